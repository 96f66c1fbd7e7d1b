//===- PromptSchedule.cpp - the calls that run a prompt --------------------===//

#include "bnb/Support/PromptSchedule.h"

#include <algorithm>
#include <tuple>

using namespace bnb;

int64_t bnb::prefillCostInDecodes(int64_t chunk) {
  if (chunk <= 16)
    return (chunk + 3) / 4;
  return 4 + (chunk - 16 + 5) / 6;
}

namespace {
/// The estimated cost of some calls and how many of them are prefill
/// calls, compared in that order.
struct Cost {
  int64_t decodes = 0;
  int64_t prefills = 0;

  Cost operator+(const Cost &o) const {
    return {decodes + o.decodes, prefills + o.prefills};
  }
  bool operator<(const Cost &o) const {
    return std::tie(decodes, prefills) < std::tie(o.decodes, o.prefills);
  }
  bool operator==(const Cost &o) const {
    return decodes == o.decodes && prefills == o.prefills;
  }
};

/// A call from prefix `position`: it reaches prefix `to`; `padded` calls
/// are followed by a decode call of the last token.
struct Move {
  PromptCall call;
  int64_t to = 0;
  Cost cost;
  bool padded = false;
};

/// The calls that can start with the cache holding tokens [0, p), most
/// preferred first: whole chunks, largest first; then calls that end the
/// prompt (repeating cached tokens, or padded); then a decode call.
std::vector<Move> movesFrom(int64_t p, int64_t T, int64_t maxSeq,
                            const std::vector<int64_t> &sizes) {
  std::vector<Move> moves;
  for (int64_t c : sizes)
    if (p + c <= T)
      moves.push_back({{p, c}, p + c, {prefillCostInDecodes(c), 1}, false});
  for (int64_t c : sizes) {
    if (p + c <= T)
      continue;
    if (T - c >= 0) // ends on the last token, repeating cached ones
      moves.push_back({{T - c, c}, T, {prefillCostInDecodes(c), 1}, false});
    else if (p + c <= maxSeq) // padded, then the last token again
      moves.push_back({{p, c}, T, {prefillCostInDecodes(c) + 1, 1}, true});
  }
  moves.push_back({{p, 1}, p + 1, {1, 0}, false});
  return moves;
}
} // namespace

std::vector<PromptCall>
bnb::schedulePrompt(int64_t promptLen, const std::vector<int64_t> &chunks,
                    int64_t maxSeq) {
  std::vector<PromptCall> calls;
  if (promptLen < 1)
    return calls;
  std::vector<int64_t> sizes;
  for (int64_t c : chunks)
    if (c >= 2)
      sizes.push_back(c);
  std::sort(sizes.begin(), sizes.end(), std::greater<int64_t>());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());

  // rest[p]: the least cost of the calls that finish the prompt once the
  // cache holds tokens [0, p).
  const int64_t T = promptLen;
  std::vector<Cost> rest(T + 1);
  for (int64_t p = T - 1; p >= 0; --p) {
    std::vector<Move> moves = movesFrom(p, T, maxSeq, sizes);
    rest[p] = moves.back().cost + rest[moves.back().to];
    for (const Move &m : moves)
      rest[p] = std::min(rest[p], m.cost + rest[m.to]);
  }
  // The most preferred call on a cheapest way, from the start.
  for (int64_t p = 0; p < T;) {
    for (const Move &m : movesFrom(p, T, maxSeq, sizes)) {
      if (!(m.cost + rest[m.to] == rest[p]))
        continue;
      calls.push_back(m.call);
      if (m.padded)
        calls.push_back({T - 1, 1});
      p = m.to;
      break;
    }
  }
  return calls;
}

std::vector<int64_t> bnb::callTokens(const std::vector<int64_t> &prompt,
                                     const PromptCall &call) {
  std::vector<int64_t> ids;
  ids.reserve(call.count);
  for (int64_t i = call.position; i < call.position + call.count; ++i)
    ids.push_back(i < static_cast<int64_t>(prompt.size()) ? prompt[i]
                                                          : prompt.back());
  return ids;
}
