//===- Sampler.h - next-token sampling for generation -------------*- C++ -*-===//
//
// Chooses the next token from a row of logits as transformers' generate()
// does: greedy when the temperature is 0, else logits / temperature, then
// top-k, then top-p (nucleus) filtering, then a draw from the softmax of what
// is left with a seeded generator. Plain C++, so that bnb-run links it.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_SAMPLER_H
#define BNB_SUPPORT_SAMPLER_H

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace bnb {

/// Sampling parameters of one generation.
struct SamplingOptions {
  /// 0 is greedy (argmax, ties to the lowest id); > 0 scales the logits.
  double temperature = 0.0;
  /// Keep only the k most likely tokens; 0 keeps all.
  int64_t topK = 0;
  /// Keep the smallest set of most likely tokens whose probability reaches
  /// topP (at least one token); 1 keeps all.
  double topP = 1.0;
  /// Seed of the generator: the same seed gives the same tokens.
  uint64_t seed = 0;

  /// An error message for invalid parameters, or empty.
  std::string validate() const;
};

/// Draws tokens from logits under fixed options.
class Sampler {
public:
  explicit Sampler(const SamplingOptions &options);

  /// The next token id for `logits` (one per vocabulary entry). NaN logits
  /// never win; if every logit is NaN the result is 0.
  int64_t next(const std::vector<float> &logits);

private:
  SamplingOptions options;
  std::mt19937_64 generator;
};

} // namespace bnb

#endif // BNB_SUPPORT_SAMPLER_H
