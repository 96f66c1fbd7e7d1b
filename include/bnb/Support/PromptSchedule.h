//===- PromptSchedule.h - the calls that run a prompt -------------*- C++ -*-===//
//
// How generation runs a prompt of T tokens through its prefill entry points
// (`@prefill` and any `@prefill_<C>`, C tokens per call) and `@decode` (one
// token): the sequence of calls with the least estimated cost, counted in
// decode calls (prefillCostInDecodes), and among those the fewest prefill
// calls. Besides whole chunks and decode calls, a schedule may use:
//  - a prefill call that ends on the prompt's last token and repeats up to
//    C - 1 cached tokens, whose slots are written again with the keys and
//    values of the same tokens at the same positions;
//  - when no chunk of that size fits before the end, a prefill call padded
//    past the prompt with its last token and followed by a decode call of
//    that token: the padding's slots lie past the prompt, so the decode call
//    at each such position overwrites it before any query reads it.
// Plain C++, so that bnb-run links it.
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
/// much as on the CPU. Up to 16 tokens the linears run as GEMVs over four
/// rows at a time, each pass reading the weights once as a decode call does
/// (or, with AVX512-BF16, a GEMM that costs about as much). Beyond 16 they
/// run as a GEMM bound by arithmetic: about one decode call more for every
/// six tokens more (measured with AVX512-BF16 at 128 and 512 tokens; AMX
/// costs less, the f32 FMA GEMM more).
int64_t prefillCostInDecodes(int64_t chunk);

/// The calls that run a prompt of `promptLen` >= 1 tokens with prefill
/// entry points of the token counts in `chunks` (any order; counts below 2
/// mean no prefill entry point) and KV caches of `maxSeq` >= promptLen
/// positions, which no call runs past. The last call's logits are those of
/// the prompt's last token.
std::vector<PromptCall> schedulePrompt(int64_t promptLen,
                                       const std::vector<int64_t> &chunks,
                                       int64_t maxSeq);

/// schedulePrompt with one prefill entry point of `chunk` tokens.
inline std::vector<PromptCall> schedulePrompt(int64_t promptLen, int64_t chunk,
                                              int64_t maxSeq) {
  return schedulePrompt(promptLen, std::vector<int64_t>{chunk}, maxSeq);
}

/// The token ids of `call`: the prompt's [position, position + count),
/// padded with the prompt's last token past its end.
std::vector<int64_t> callTokens(const std::vector<int64_t> &prompt,
                                const PromptCall &call);

} // namespace bnb

#endif // BNB_SUPPORT_PROMPTSCHEDULE_H
