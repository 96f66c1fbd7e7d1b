//===- Float16Test.cpp - half and bfloat16 conversions --------------------===//
//
// Exhaustive over the 65536 patterns of each 16-bit format, and against an
// independent rounding model in double arithmetic for float -> 16 bit.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/Float16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace bnb;

namespace {

/// The value of half bits `h` computed from the format definition.
double halfValueByDefinition(uint16_t h) {
  int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(mantissa, -24);
  else if (exponent == 31)
    magnitude = mantissa ? std::numeric_limits<double>::quiet_NaN()
                         : std::numeric_limits<double>::infinity();
  else
    magnitude = std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
}

/// Round-to-nearest-even of `f` to a format with `precision` significand bits,
/// minimum normal exponent `minExponent` and overflow threshold `overflowAt`,
/// computed in double (where the scaled value is exact and std::nearbyint
/// rounds ties to even).
double roundModel(float f, int precision, int minExponent, double overflowAt) {
  double a = std::fabs(static_cast<double>(f));
  double r;
  if (a >= overflowAt) {
    r = std::numeric_limits<double>::infinity();
  } else if (a == 0) {
    r = 0;
  } else {
    int e;
    std::frexp(a, &e); // a = m * 2^e, m in [0.5, 1)
    int exponent = std::max(e - 1, minExponent);
    double quantum = std::ldexp(1.0, exponent - (precision - 1));
    r = std::nearbyint(a / quantum) * quantum;
  }
  return std::signbit(f) ? -r : r;
}

double halfModel(float f) { return roundModel(f, 11, -14, 65520.0); }

double bfloat16Model(float f) {
  // Halfway between the largest bfloat16 (0x7f7f) and 2^128.
  return roundModel(f, 8, -126, std::ldexp(255.5, 120));
}

std::vector<float> boundaryInputs(bool bfloat) {
  std::vector<float> inputs;
  // Midpoints between consecutive finite positive values and their float
  // neighbours: every rounding decision of the format.
  for (uint32_t h = 0; h < (bfloat ? 0x7f80u : 0x7c00u); ++h) {
    double lo = bfloat ? bfloat16ToFloat(h) : halfToFloat(h);
    double hi = bfloat
                    ? (h + 1 == 0x7f80u ? std::ldexp(1.0, 128)
                                        : double(bfloat16ToFloat(h + 1)))
                    : (h + 1 == 0x7c00u ? 65536.0 : double(halfToFloat(h + 1)));
    float mid = static_cast<float>((lo + hi) / 2);
    for (float v : {mid, std::nextafter(mid, 0.0f),
                    std::nextafter(mid, INFINITY), static_cast<float>(lo)}) {
      inputs.push_back(v);
      inputs.push_back(-v);
    }
  }
  // A stride through all 2^32 patterns and random patterns.
  for (uint64_t bits = 0; bits < (uint64_t(1) << 32); bits += 65521)
    inputs.push_back(floatFromBits(static_cast<uint32_t>(bits)));
  std::mt19937 rng(42);
  for (int i = 0; i < 1000000; ++i)
    inputs.push_back(floatFromBits(rng()));
  return inputs;
}

TEST(Float16Test, HalfToFloatMatchesDefinitionExhaustively) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = halfToFloat(static_cast<uint16_t>(h));
    double expected = halfValueByDefinition(static_cast<uint16_t>(h));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      // The payload moves to the top of the float mantissa unchanged.
      ASSERT_EQ(floatBits(f),
                ((h & 0x8000u) << 16) | 0x7f800000u | ((h & 0x3ffu) << 13))
          << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), expected) << h;
      ASSERT_EQ(std::signbit(f), (h & 0x8000u) != 0) << h;
    }
  }
}

TEST(Float16Test, HalfRoundTripsExhaustively) {
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_EQ(floatToHalf(halfToFloat(static_cast<uint16_t>(h))), h) << h;
}

TEST(Float16Test, BFloat16RoundTripsExhaustively) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = bfloat16ToFloat(static_cast<uint16_t>(h));
    ASSERT_EQ(floatBits(f), h << 16);
    ASSERT_EQ(floatToBFloat16(f), h) << h;
  }
}

TEST(Float16Test, FloatToHalfMatchesRoundingModel) {
  for (float f : boundaryInputs(false)) {
    if (std::isnan(f))
      continue;
    uint16_t h = floatToHalf(f);
    double expected = halfModel(f);
    ASSERT_EQ(static_cast<double>(halfToFloat(h)), expected)
        << std::hexfloat << f;
    ASSERT_EQ((h & 0x8000u) != 0, std::signbit(f)) << std::hexfloat << f;
  }
}

TEST(Float16Test, FloatToBFloat16MatchesRoundingModel) {
  for (float f : boundaryInputs(true)) {
    if (std::isnan(f))
      continue;
    uint16_t h = floatToBFloat16(f);
    ASSERT_EQ(static_cast<double>(bfloat16ToFloat(h)), bfloat16Model(f))
        << std::hexfloat << f;
    ASSERT_EQ((h & 0x8000u) != 0, std::signbit(f)) << std::hexfloat << f;
  }
}

TEST(Float16Test, SpecialValues) {
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bffu);
  EXPECT_EQ(floatToHalf(65519.99f), 0x7bffu);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00u);
  EXPECT_EQ(floatToHalf(-INFINITY), 0xfc00u);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000u);
  // Smallest subnormal 2^-24; 2^-25 is a tie and rounds to even zero; just
  // above it rounds up.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001u);
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000u);
  EXPECT_EQ(floatToHalf(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001u);
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002u); // 1.5 ulp -> even 2
  // Largest subnormal rounding up into the smallest normal.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)),
            0x0400u);
  EXPECT_EQ(floatToBFloat16(3.4028235e38f), 0x7f80u);
  EXPECT_EQ(floatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80u);
  EXPECT_EQ(floatToBFloat16(1.0f + std::ldexp(3.0f, -8)), 0x3f82u);
  // Float subnormals survive bfloat16 rounding (no flush to zero).
  EXPECT_EQ(floatToBFloat16(floatFromBits(0x00010000u)), 0x0001u);
}

TEST(Float16Test, NaNsStayNaNsWithSignAndPayload) {
  EXPECT_EQ(floatToHalf(floatFromBits(0x7fc00000u)), 0x7e00u);
  EXPECT_EQ(floatToHalf(floatFromBits(0xffc00000u)), 0xfe00u);
  // A payload only in the low 13 bits must not turn into infinity.
  EXPECT_EQ(floatToHalf(floatFromBits(0x7f800001u)), 0x7e00u);
  EXPECT_EQ(floatToHalf(floatFromBits(0x7f802000u)), 0x7c01u);
  EXPECT_EQ(floatToBFloat16(floatFromBits(0x7f800001u)), 0x7fc0u);
  EXPECT_EQ(floatToBFloat16(floatFromBits(0xff810000u)), 0xff81u);
}

TEST(Float16Test, ArrayConversionsHandleUnalignedInput) {
  std::vector<unsigned char> bytes(1 + 2 * 65536);
  for (uint32_t h = 0; h < 65536; ++h) {
    bytes[1 + 2 * h] = static_cast<unsigned char>(h & 0xff);
    bytes[2 + 2 * h] = static_cast<unsigned char>(h >> 8);
  }
  std::vector<float> out(65536);
  halfToFloatArray(bytes.data() + 1, out.data(), out.size());
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_EQ(floatBits(out[h]),
              floatBits(halfToFloat(static_cast<uint16_t>(h))));
  bfloat16ToFloatArray(bytes.data() + 1, out.data(), out.size());
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_EQ(floatBits(out[h]), h << 16);
}

} // namespace
