//===- Sampler.cpp - next-token sampling for generation --------------------===//

#include "bnb/Support/Sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace bnb;

std::string SamplingOptions::validate() const {
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    return "the temperature must be a finite number >= 0";
  if (topK < 0)
    return "top-k must be >= 0";
  if (!(topP > 0.0 && topP <= 1.0))
    return "top-p must be in (0, 1]";
  return "";
}

Sampler::Sampler(const SamplingOptions &options)
    : options(options), generator(options.seed) {}

int64_t Sampler::next(const std::vector<float> &logits) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  // Candidates ordered by logit, highest first (ties: lower id first), so
  // that greedy, top-k and top-p agree on one order.
  std::vector<int64_t> order;
  order.reserve(logits.size());
  for (int64_t i = 0; i < vocab; ++i)
    if (!std::isnan(logits[i]))
      order.push_back(i);
  if (order.empty())
    return 0;
  auto better = [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (options.temperature == 0.0)
    return *std::min_element(order.begin(), order.end(), better);

  size_t keep = order.size();
  if (options.topK > 0)
    keep = std::min<size_t>(keep, static_cast<size_t>(options.topK));
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), better);
  order.resize(keep);

  // Softmax of logits / temperature over the candidates, in double.
  std::vector<double> probs(order.size());
  double top = logits[order[0]] / options.temperature;
  for (size_t i = 0; i < order.size(); ++i)
    probs[i] = std::exp(logits[order[i]] / options.temperature - top);
  double total = std::accumulate(probs.begin(), probs.end(), 0.0);
  for (double &p : probs)
    p /= total;

  if (options.topP < 1.0) {
    // The smallest prefix whose mass reaches topP (transformers removes the
    // tokens whose cumulative probability before them already exceeds it).
    double mass = 0.0;
    size_t n = 0;
    while (n < probs.size() && (n == 0 || mass < options.topP))
      mass += probs[n++];
    probs.resize(n);
    order.resize(n);
    total = std::accumulate(probs.begin(), probs.end(), 0.0);
    for (double &p : probs)
      p /= total;
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double u = uniform(generator), cumulative = 0.0;
  for (size_t i = 0; i < probs.size(); ++i) {
    cumulative += probs[i];
    if (u < cumulative)
      return order[i];
  }
  return order.back();
}
