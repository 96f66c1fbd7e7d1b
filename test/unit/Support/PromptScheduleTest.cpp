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

#include <algorithm>
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

TEST(PromptScheduleTest, SeveralChunkSizes) {
  const std::vector<int64_t> both = {128, 16};
  EXPECT_EQ(prefillCostInDecodes(128), 23);
  // Whole chunks of the larger size, then of the smaller, then decodes.
  EXPECT_EQ(schedulePrompt(128 + 32 + 2, both, 2048),
            calls({{0, 128}, {128, 16}, {144, 16}, {160, 1}, {161, 1}}));
  // The remainder as one call of 16 ending on the last token.
  EXPECT_EQ(schedulePrompt(140, both, 2048), calls({{0, 128}, {124, 16}}));
  // Six chunks of 16 and four decodes cost more than one 128 padded.
  EXPECT_EQ(schedulePrompt(100, both, 2048), calls({{0, 128}, {99, 1}}));
  EXPECT_EQ(schedulePrompt(100, both, 100),
            calls({{0, 16}, {16, 16}, {32, 16}, {48, 16}, {64, 16}, {80, 16},
                   {96, 1}, {97, 1}, {98, 1}, {99, 1}}));
  // The order of the sizes does not matter, nor repeats or sizes below 2.
  EXPECT_EQ(schedulePrompt(300, {16, 1, 128, 16, 0}, 2048),
            schedulePrompt(300, both, 2048));
  EXPECT_EQ(schedulePrompt(300, both, 2048),
            calls({{0, 128}, {128, 128}, {256, 16}, {272, 16}, {284, 16}}));
}

TEST(PromptScheduleTest, CallTokensPadWithTheLastToken) {
  std::vector<int64_t> prompt = {10, 11, 12};
  EXPECT_EQ(callTokens(prompt, {0, 4}), (std::vector<int64_t>{10, 11, 12, 12}));
  EXPECT_EQ(callTokens(prompt, {1, 2}), (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(callTokens(prompt, {2, 1}), (std::vector<int64_t>{12}));
}

/// Runs the schedule against a simulated cache of `maxSeq` slots; returns
/// an empty string when it is right, else what went wrong.
std::string simulate(int64_t promptLen, const std::vector<int64_t> &chunks,
                     int64_t maxSeq) {
  std::vector<int64_t> prompt(promptLen);
  std::iota(prompt.begin(), prompt.end(), 1000);
  std::vector<int64_t> slot(maxSeq, -1);
  std::vector<PromptCall> schedule = schedulePrompt(promptLen, chunks, maxSeq);
  if (schedule.empty())
    return "empty schedule";
  for (const PromptCall &call : schedule) {
    if (call.count != 1 &&
        std::find(chunks.begin(), chunks.end(), call.count) == chunks.end())
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

/// The chunk sizes the simulations try: none, one, and several.
const std::vector<std::vector<int64_t>> kChunkSets = {
    {0}, {1}, {2}, {3}, {4}, {5}, {8}, {16}, {64}, {16, 128}, {4, 16, 64},
    {3, 5}, {8, 24}};

TEST(PromptScheduleTest, EveryScheduleKeepsTheCacheRight) {
  for (const std::vector<int64_t> &chunks : kChunkSets)
    for (int64_t promptLen = 1; promptLen <= 300; ++promptLen) {
      int64_t largest = *std::max_element(chunks.begin(), chunks.end());
      // Caches as long as the prompt (a chunk may not fit), or longer.
      for (int64_t maxSeq : {promptLen, promptLen + largest})
        EXPECT_EQ(simulate(promptLen, chunks, maxSeq), "")
            << "prompt " << promptLen << ", chunks " << chunks.size()
            << " from " << chunks[0] << ", S " << maxSeq;
    }
}

/// The estimated cost of a schedule.
int64_t costOf(const std::vector<PromptCall> &schedule) {
  int64_t cost = 0;
  for (const PromptCall &call : schedule)
    cost += call.count == 1 ? 1 : prefillCostInDecodes(call.count);
  return cost;
}

TEST(PromptScheduleTest, NeverCostsMoreThanThePlainSchedules) {
  // Whole chunks of one size and decode calls for the rest is a valid
  // schedule for each size; the chosen one costs no more than any of them.
  for (const std::vector<int64_t> &chunks : kChunkSets)
    for (int64_t promptLen = 1; promptLen <= 300; ++promptLen) {
      int64_t cost = costOf(schedulePrompt(promptLen, chunks, promptLen));
      EXPECT_LE(cost, promptLen);
      for (int64_t chunk : chunks) {
        if (chunk < 2)
          continue;
        int64_t full = promptLen / chunk, left = promptLen % chunk;
        EXPECT_LE(cost, full * prefillCostInDecodes(chunk) + left)
            << "prompt " << promptLen << ", chunk " << chunk;
      }
    }
}

TEST(PromptScheduleTest, CostGrowsWithTheChunkAndFallsPerToken) {
  for (int64_t c = 2; c < 1024; ++c) {
    EXPECT_LE(prefillCostInDecodes(c), prefillCostInDecodes(c + 1));
    EXPECT_LE(prefillCostInDecodes(c), c);
  }
  // Per token, a larger chunk is never dearer than 16 (where the GEMV
  // passes end).
  for (int64_t c : {32, 64, 128, 256, 512})
    EXPECT_LE(prefillCostInDecodes(c) * 16, prefillCostInDecodes(16) * c);
}
} // namespace
