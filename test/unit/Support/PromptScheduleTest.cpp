//===- PromptScheduleTest.cpp - the calls that run a prompt ----------------===//
//
// Worked schedules, and for every prompt length and chunk a simulation of a
// causal model's KV cache: each call writes the tokens it was given at its
// positions, then each of its queries reads the slots up to its own
// position. A schedule is right when no query reads a slot that does not
// hold the prompt's token at that position, every prompt slot ends written,
// and the last call's last query is the prompt's last token.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/PromptSchedule.h"

#include "gtest/gtest.h"

#include <numeric>

using namespace bnb;

namespace {
std::vector<PromptCall> calls(std::initializer_list<PromptCall> list) {
  return list;
}

TEST(PromptScheduleTest, WorkedExamples) {
  // Whole chunks, and one token left: decoded.
  EXPECT_EQ(schedulePrompt(7, 3, 64), calls({{0, 3}, {3, 3}, {6, 1}}));
  // Two tokens left after a chunk of 4 (one pass of four rows): one more
  // prefill call over positions 2..5.
  EXPECT_EQ(schedulePrompt(6, 4, 64), calls({{0, 4}, {2, 4}}));
  // Shorter than a chunk: padded prefill, then the last token decoded.
  EXPECT_EQ(schedulePrompt(3, 4, 64), calls({{0, 4}, {2, 1}}));
  EXPECT_EQ(schedulePrompt(2, 4, 64), calls({{0, 1}, {1, 1}}));
  // C = 16 costs about four decode calls.
  EXPECT_EQ(prefillCostInDecodes(16), 4);
  EXPECT_EQ(schedulePrompt(20, 16, 64),
            calls({{0, 16}, {16, 1}, {17, 1}, {18, 1}, {19, 1}}));
  EXPECT_EQ(schedulePrompt(21, 16, 64), calls({{0, 16}, {5, 16}}));
  EXPECT_EQ(schedulePrompt(5, 16, 64).size(), 5u);
  EXPECT_EQ(schedulePrompt(6, 16, 64), calls({{0, 16}, {5, 1}}));
  EXPECT_EQ(schedulePrompt(32, 16, 64), calls({{0, 16}, {16, 16}}));
  // No prefill entry point: every token decoded.
  EXPECT_EQ(schedulePrompt(3, 0, 64), calls({{0, 1}, {1, 1}, {2, 1}}));
  EXPECT_EQ(schedulePrompt(3, 1, 64), calls({{0, 1}, {1, 1}, {2, 1}}));
  EXPECT_TRUE(schedulePrompt(0, 4, 64).empty());
  // A chunk longer than the caches is never padded past them.
  EXPECT_EQ(schedulePrompt(3, 4, 3), calls({{0, 1}, {1, 1}, {2, 1}}));
}

TEST(PromptScheduleTest, CallTokensPadWithTheLastToken) {
  std::vector<int64_t> prompt = {10, 11, 12};
  EXPECT_EQ(callTokens(prompt, {0, 4}), (std::vector<int64_t>{10, 11, 12, 12}));
  EXPECT_EQ(callTokens(prompt, {1, 2}), (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(callTokens(prompt, {2, 1}), (std::vector<int64_t>{12}));
}

/// Runs the schedule against a simulated cache of `maxSeq` slots; returns
/// an empty string when it is right, else what went wrong.
std::string simulate(int64_t promptLen, int64_t chunk, int64_t maxSeq) {
  std::vector<int64_t> prompt(promptLen);
  std::iota(prompt.begin(), prompt.end(), 1000);
  std::vector<int64_t> slot(maxSeq, -1);
  std::vector<PromptCall> schedule = schedulePrompt(promptLen, chunk, maxSeq);
  if (schedule.empty())
    return "empty schedule";
  for (const PromptCall &call : schedule) {
    if (call.count != 1 && call.count != chunk)
      return "a call of " + std::to_string(call.count) + " tokens";
    if (call.position < 0 || call.position + call.count > maxSeq)
      return "a call outside the cache";
    std::vector<int64_t> ids = callTokens(prompt, call);
    for (int64_t i = 0; i < call.count; ++i)
      slot[call.position + i] = ids[i];
    // Queries at positions p..p+count-1 that lie in the prompt read slots
    // 0..q; a padded query past the prompt has unused logits.
    for (int64_t q = call.position;
         q < std::min(call.position + call.count, promptLen); ++q)
      for (int64_t s = 0; s <= q; ++s)
        if (slot[s] != prompt[s])
          return "query " + std::to_string(q) + " reads slot " +
                 std::to_string(s) + " before it holds its token";
  }
  for (int64_t s = 0; s < promptLen; ++s)
    if (slot[s] != prompt[s])
      return "slot " + std::to_string(s) + " wrong after the prompt";
  const PromptCall &last = schedule.back();
  if (last.position + last.count != promptLen)
    return "the last call does not end on the prompt's last token";
  return "";
}

TEST(PromptScheduleTest, EveryScheduleKeepsTheCacheRight) {
  for (int64_t chunk : {0, 1, 2, 3, 4, 5, 8, 16, 64})
    for (int64_t promptLen = 1; promptLen <= 150; ++promptLen) {
      // Caches as long as the prompt (a chunk may not fit), or longer.
      for (int64_t maxSeq : {promptLen, promptLen + chunk})
        EXPECT_EQ(simulate(promptLen, chunk, maxSeq), "")
            << "prompt " << promptLen << ", chunk " << chunk << ", S "
            << maxSeq;
    }
}

TEST(PromptScheduleTest, NeverCostsMoreThanDecodingTheRemainder) {
  for (int64_t chunk : {2, 3, 4, 8, 16, 64})
    for (int64_t promptLen = 1; promptLen <= 150; ++promptLen) {
      int64_t full = promptLen / chunk, left = promptLen % chunk;
      int64_t cost = 0;
      for (const PromptCall &call :
           schedulePrompt(promptLen, chunk, promptLen + chunk))
        cost += call.count == 1 ? 1 : prefillCostInDecodes(chunk);
      EXPECT_LE(cost, full * prefillCostInDecodes(chunk) + left)
          << "prompt " << promptLen << ", chunk " << chunk;
    }
}
} // namespace
