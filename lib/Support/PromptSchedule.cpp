//===- PromptSchedule.cpp - the calls that run a prompt --------------------===//

#include "bnb/Support/PromptSchedule.h"

using namespace bnb;

int64_t bnb::prefillCostInDecodes(int64_t chunk) { return (chunk + 3) / 4; }

std::vector<PromptCall> bnb::schedulePrompt(int64_t promptLen, int64_t chunk,
                                            int64_t maxSeq) {
  std::vector<PromptCall> calls;
  if (promptLen < 1)
    return calls;
  int64_t pos = 0;
  if (chunk > 1)
    for (; promptLen - pos >= chunk; pos += chunk)
      calls.push_back({pos, chunk});
  const int64_t left = promptLen - pos;
  if (left == 0)
    return calls;
  if (chunk > 1) {
    const int64_t cost = prefillCostInDecodes(chunk);
    if (pos > 0 && left > cost) {
      // Ends on the last token, repeating chunk - left earlier tokens.
      calls.push_back({promptLen - chunk, chunk});
      return calls;
    }
    if (pos == 0 && left > cost + 1 && chunk <= maxSeq) {
      // Padded past the prompt, then the last token again for its logits.
      calls.push_back({0, chunk});
      calls.push_back({promptLen - 1, 1});
      return calls;
    }
  }
  for (; pos < promptLen; ++pos)
    calls.push_back({pos, 1});
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
