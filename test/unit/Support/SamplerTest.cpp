//===- SamplerTest.cpp - next-token sampling -------------------------------===//
//
// The sampler against independent computations of the distributions it
// must draw from: greedy argmax, softmax(logits / T), top-k and top-p
// truncation as transformers' generate() defines them, checked by drawing
// many tokens with fixed seeds.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/Sampler.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>
#include <map>

using namespace bnb;

namespace {
/// Frequencies of `draws` tokens.
std::map<int64_t, double> frequencies(const SamplingOptions &o,
                                      const std::vector<float> &logits,
                                      int draws) {
  Sampler s(o);
  std::map<int64_t, double> f;
  for (int i = 0; i < draws; ++i)
    f[s.next(logits)] += 1.0 / draws;
  return f;
}
} // namespace

TEST(SamplerTest, GreedyIsArgmaxWithTiesToTheLowestId) {
  SamplingOptions o;
  Sampler s(o);
  EXPECT_EQ(s.next({0.f, 2.f, -1.f, 2.f}), 1);
  EXPECT_EQ(s.next({-5.f}), 0);
  float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(s.next({nan, -3.f, nan}), 1);
  EXPECT_EQ(s.next({nan, nan}), 0);
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(s.next({1.f, inf, 2.f}), 1);
}

TEST(SamplerTest, TemperatureSamplesTheSoftmax) {
  // softmax([0, ln 2, ln 5] / 1) = [1/8, 2/8, 5/8].
  SamplingOptions o;
  o.temperature = 1.0;
  o.seed = 7;
  auto f = frequencies(o, {0.f, std::log(2.f), std::log(5.f)}, 40000);
  EXPECT_NEAR(f[0], 1.0 / 8, 0.01);
  EXPECT_NEAR(f[1], 2.0 / 8, 0.01);
  EXPECT_NEAR(f[2], 5.0 / 8, 0.01);
  // Temperature 2 takes the square root of the odds: [1, sqrt2, sqrt5].
  o.temperature = 2.0;
  f = frequencies(o, {0.f, std::log(2.f), std::log(5.f)}, 40000);
  double z = 1 + std::sqrt(2.0) + std::sqrt(5.0);
  EXPECT_NEAR(f[0], 1 / z, 0.01);
  EXPECT_NEAR(f[2], std::sqrt(5.0) / z, 0.01);
}

TEST(SamplerTest, TopKKeepsTheKMostLikely) {
  SamplingOptions o;
  o.temperature = 1.0;
  o.topK = 2;
  o.seed = 3;
  // Probabilities 1:2:3:4 -> keep ids 2 and 3, renormalized to 3/7, 4/7.
  std::vector<float> logits = {std::log(1.f), std::log(2.f), std::log(3.f),
                               std::log(4.f)};
  auto f = frequencies(o, logits, 40000);
  EXPECT_EQ(f.count(0) + f.count(1), 0u);
  EXPECT_NEAR(f[2], 3.0 / 7, 0.01);
  EXPECT_NEAR(f[3], 4.0 / 7, 0.01);
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  SamplingOptions o;
  o.temperature = 1.0;
  o.seed = 11;
  // Probabilities 0.5, 0.3, 0.15, 0.05: p = 0.7 keeps {0.5, 0.3}; p = 0.8
  // keeps exactly those two as well (their mass reaches 0.8); p = 0.81
  // adds the third.
  std::vector<float> logits = {std::log(0.05f), std::log(0.5f),
                               std::log(0.15f), std::log(0.3f)};
  o.topP = 0.7;
  auto f = frequencies(o, logits, 40000);
  EXPECT_EQ(f.count(0) + f.count(2), 0u);
  EXPECT_NEAR(f[1], 0.5 / 0.8, 0.01);
  o.topP = 0.81;
  f = frequencies(o, logits, 40000);
  EXPECT_EQ(f.count(0), 0u);
  EXPECT_NEAR(f[2], 0.15 / 0.95, 0.01);
  // A tiny p keeps the most likely token only.
  o.topP = 1e-6;
  f = frequencies(o, logits, 1000);
  EXPECT_DOUBLE_EQ(f[1], 1.0);
}

TEST(SamplerTest, TheSeedFixesTheTokens) {
  SamplingOptions o;
  o.temperature = 0.8;
  o.seed = 42;
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i)
    logits[i] = std::sin(i * 0.37f);
  Sampler a(o), b(o);
  std::vector<int64_t> ta, tb;
  for (int i = 0; i < 50; ++i) {
    ta.push_back(a.next(logits));
    tb.push_back(b.next(logits));
  }
  EXPECT_EQ(ta, tb);
  o.seed = 43;
  Sampler c(o);
  std::vector<int64_t> tc;
  for (int i = 0; i < 50; ++i)
    tc.push_back(c.next(logits));
  EXPECT_NE(ta, tc);
}

TEST(SamplerTest, InvalidOptionsAreNamed) {
  SamplingOptions o;
  EXPECT_EQ(o.validate(), "");
  o.temperature = -0.5;
  EXPECT_NE(o.validate().find("temperature"), std::string::npos);
  o = SamplingOptions();
  o.temperature = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(o.validate().find("temperature"), std::string::npos);
  o = SamplingOptions();
  o.topP = 0.0;
  EXPECT_NE(o.validate().find("top-p"), std::string::npos);
  o.topP = 1.5;
  EXPECT_NE(o.validate().find("top-p"), std::string::npos);
  o = SamplingOptions();
  o.topK = -1;
  EXPECT_NE(o.validate().find("top-k"), std::string::npos);
}
