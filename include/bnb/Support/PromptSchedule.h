//===- PromptSchedule.h - the calls that run a prompt -------------*- C++ -*-===//
//
// How generation runs a prompt of T tokens through `@prefill` (C tokens per
// call) and `@decode` (one token): whole chunks first; the last r = T mod C
// tokens then go through one more prefill call when that costs less than r
// decode calls. That call ends on the prompt's last token. After a chunk it
// repeats the last C - r cached tokens, whose slots are written again with
// the keys and values of the same tokens at the same positions. For a
// prompt shorter than one chunk it is padded with the last token and
// followed by a decode call of that token: the padding's slots lie past the
// prompt, so the decode call at each such position overwrites it before any
// query reads it. Plain C++, so that bnb-run links it.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_PROMPTSCHEDULE_H
#define BNB_SUPPORT_PROMPTSCHEDULE_H

#include <cstdint>
#include <vector>

namespace bnb {

/// One call of a prompt's schedule: `count` tokens at positions
/// [position, position + count), through `@prefill` when count > 1 and
/// `@decode` when count == 1.
struct PromptCall {
  int64_t position = 0;
  int64_t count = 0;

  /// Same positions.
  bool operator==(const PromptCall &other) const {
    return position == other.position && count == other.count;
  }
};

/// Decode calls that one prefill call of `chunk` tokens costs about as
/// much as on the CPU: the linears run `chunk` rows as GEMVs over four rows
/// at a time, each pass reading the weights once, as a decode call does.
int64_t prefillCostInDecodes(int64_t chunk);

/// The calls that run a prompt of `promptLen` >= 1 tokens with prefill
/// chunks of `chunk` tokens (0 or 1: no prefill entry point, every token is
/// decoded) and KV caches of `maxSeq` >= promptLen positions, which no call
/// runs past. The last call's logits are those of the prompt's last token.
std::vector<PromptCall> schedulePrompt(int64_t promptLen, int64_t chunk,
                                       int64_t maxSeq);

/// The token ids of `call`: the prompt's [position, position + count),
/// padded with the prompt's last token past its end.
std::vector<int64_t> callTokens(const std::vector<int64_t> &prompt,
                                const PromptCall &call);

} // namespace bnb

#endif // BNB_SUPPORT_PROMPTSCHEDULE_H
