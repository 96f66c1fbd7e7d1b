//===- Int8Test.cpp - LLM.int8() primitives -------------------------------===//
//
// TV7 and TV8 of bnb-numerics §10, plus zero rows, NaN/Inf, thresholds that
// fp16 cannot represent, and int32 wrap-around.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/Int8.h"
#include "bnb/Support/Float16.h"

#include "llvm/Support/ThreadPool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {

std::vector<uint16_t> halves(const std::vector<float> &values) {
  std::vector<uint16_t> out;
  for (float v : values)
    out.push_back(floatToHalf(v));
  return out;
}

TEST(Int8Test, TV7Threshold0) {
  std::vector<uint16_t> a = halves({1.0f, -0.5f, 0.25f, 2.0f});
  std::vector<int8_t> ca(4);
  float sca;
  quantizeRowwise(a.data(), 1, 4, 0.0f, ca.data(), &sca);
  EXPECT_EQ(sca, 2.0f);
  EXPECT_EQ(ca, (std::vector<int8_t>{64, -32, 16, 127}));

  std::vector<uint16_t> w =
      halves({0.5f, 0.5f, -1.0f, 0.25f, 4.0f, -2.0f, 1.0f, 0.0f});
  std::vector<int8_t> cb(8);
  std::vector<float> scb(2);
  quantizeRowwise(w.data(), 2, 4, 0.0f, cb.data(), scb.data());
  EXPECT_EQ(scb, (std::vector<float>{1.0f, 4.0f}));
  EXPECT_EQ(cb, (std::vector<int8_t>{64, 64, -127, 32, 127, -64, 32, 0}));

  std::vector<int32_t> c(2);
  int8Matmul(ca.data(), cb.data(), 1, 2, 4, c.data());
  EXPECT_EQ(c, (std::vector<int32_t>{4080, 10688}));

  std::vector<uint16_t> out(2);
  dequantizeInt8(c.data(), &sca, scb.data(), nullptr, 1, 2, out.data());
  EXPECT_EQ(halfToFloat(out[0]), 0.505859375f);
  EXPECT_EQ(halfToFloat(out[1]), 5.30078125f);
  std::vector<uint16_t> bias = halves({0.125f, -1.0f});
  dequantizeInt8(c.data(), &sca, scb.data(), bias.data(), 1, 2, out.data());
  EXPECT_EQ(halfToFloat(out[0]), 0.630859375f);
  EXPECT_EQ(halfToFloat(out[1]), 4.30078125f);
}

TEST(Int8Test, TV8OutlierColumn) {
  std::vector<uint16_t> a =
      halves({1.0f, 8.0f, -0.5f, 0.25f, 0.5f, -0.25f, 2.0f, 1.0f});
  EXPECT_EQ(outlierColumns(a.data(), 2, 4, 6.0f), std::vector<int64_t>{1});
  EXPECT_TRUE(outlierColumns(a.data(), 2, 4, 0.0f).empty());
  std::vector<int8_t> ca(8);
  std::vector<float> sca(2);
  quantizeRowwise(a.data(), 2, 4, 6.0f, ca.data(), sca.data());
  EXPECT_EQ(sca, (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(ca, (std::vector<int8_t>{127, 0, -64, 32, 32, 0, 127, 64}));

  const std::vector<int8_t> cb = {64, 64, -127, 32, 127, -64, 32, 0};
  const std::vector<float> scb = {1.0f, 4.0f};
  std::vector<int32_t> c(4);
  int8Matmul(ca.data(), cb.data(), 2, 2, 4, c.data());
  EXPECT_EQ(c, (std::vector<int32_t>{17280, 14081, -12033, 8128}));
  std::vector<uint16_t> out(4);
  dequantizeInt8(c.data(), sca.data(), scb.data(), nullptr, 2, 2, out.data());
  const float expected[4] = {1.0712890625f, 3.4921875f, -1.4921875f, 4.03125f};
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(halfToFloat(out[i]), expected[i]) << i;

  std::vector<float> w(8);
  dequantizeInt8Weight(cb.data(), scb.data(), 2, 4, w.data());
  EXPECT_EQ(halfToFloat(floatToHalf(w[1])), 0.50390625f);
  EXPECT_EQ(halfToFloat(floatToHalf(w[5])), -2.015625f);
  EXPECT_EQ(w[1], (64.0f * 1.0f) * 7.874015718698502e-3f);
  EXPECT_EQ(floatBits(kInt8WeightDequantScale), 0x3c010204u);
  EXPECT_EQ(floatBits(kInt8MatmulDequantScale), 0x38820610u);
}

TEST(Int8Test, OutlierColumnsAreZeroedInEveryRow) {
  // Row 1 has no outlier itself, but column 2 is zeroed there too; row
  // absmax only excludes outlier elements, not columns.
  std::vector<uint16_t> a = halves({0.5f, 1.0f, 7.0f, 0.25f, -2.0f, 3.0f});
  std::vector<int8_t> ca(6);
  std::vector<float> sca(2);
  quantizeRowwise(a.data(), 2, 3, 6.0f, ca.data(), sca.data());
  EXPECT_EQ(sca, (std::vector<float>{1.0f, 3.0f}));
  EXPECT_EQ(ca, (std::vector<int8_t>{64, 127, 0, 11, -85, 0}));
}

TEST(Int8Test, ZeroRowsNaNAndInfinity) {
  std::vector<uint16_t> a = halves({0.0f, -0.0f, 0.0f, 0.0f});
  std::vector<int8_t> ca(4, 5);
  float sca = -1;
  quantizeRowwise(a.data(), 1, 4, 0.0f, ca.data(), &sca);
  EXPECT_EQ(floatBits(sca), 0u);
  EXPECT_EQ(ca, std::vector<int8_t>(4, 0));

  a = halves({1.0f, NAN, -2.0f, 0.5f});
  quantizeRowwise(a.data(), 1, 4, 0.0f, ca.data(), &sca);
  EXPECT_EQ(sca, 2.0f);
  EXPECT_EQ(ca, (std::vector<int8_t>{64, 0, -127, 32}));
  quantizeRowwise(a.data(), 1, 4, 6.0f, ca.data(), &sca);
  EXPECT_EQ(ca, (std::vector<int8_t>{64, 0, -127, 32}));
  EXPECT_TRUE(outlierColumns(a.data(), 1, 4, 6.0f).empty());

  // Without a threshold an infinity makes the scale 0 and every code 0.
  a = halves({1.0f, INFINITY, -2.0f, 0.5f});
  quantizeRowwise(a.data(), 1, 4, 0.0f, ca.data(), &sca);
  EXPECT_EQ(sca, INFINITY);
  EXPECT_EQ(ca, std::vector<int8_t>(4, 0));
  // With a threshold it is an outlier.
  quantizeRowwise(a.data(), 1, 4, 6.0f, ca.data(), &sca);
  EXPECT_EQ(sca, 2.0f);
  EXPECT_EQ(ca, (std::vector<int8_t>{64, 0, -127, 32}));
  EXPECT_EQ(outlierColumns(a.data(), 1, 4, 6.0f), std::vector<int64_t>{1});

  // Every element an outlier: absmax stays 0.
  a = halves({-8.0f, 9.0f});
  quantizeRowwise(a.data(), 1, 2, 6.0f, ca.data(), &sca);
  EXPECT_EQ(sca, 0.0f);
  EXPECT_EQ(ca[0], 0);
  EXPECT_EQ(ca[1], 0);
}

TEST(Int8Test, ThresholdNotRepresentableInHalf) {
  // f16(6.103) = 6.1015625: the row absmax excludes 6.1015625 (half
  // comparison) while the quantization loop (f32 comparison) quantizes it
  // with the scale of the remaining elements; the kernel stores the low byte
  // of 775.
  std::vector<uint16_t> a = halves({6.1015625f, 1.0f});
  std::vector<int8_t> ca(2);
  float sca;
  quantizeRowwise(a.data(), 1, 2, 6.103f, ca.data(), &sca);
  EXPECT_EQ(sca, 1.0f);
  EXPECT_EQ(ca[0], 7);
  EXPECT_EQ(ca[1], 127);
  EXPECT_TRUE(outlierColumns(a.data(), 1, 2, 6.103f).empty());
}

TEST(Int8Test, RoundToInt8) {
  EXPECT_EQ(roundToInt8(63.5f), 64);
  EXPECT_EQ(roundToInt8(62.5f), 62);
  EXPECT_EQ(roundToInt8(-63.5f), -64);
  EXPECT_EQ(roundToInt8(-15.875f), -16);
  EXPECT_EQ(roundToInt8(NAN), 0);
  EXPECT_EQ(roundToInt8(200.0f), -56);
  EXPECT_EQ(roundToInt8(1e10f), -1); // INT32_MAX, low byte 0xff
  EXPECT_EQ(roundToInt8(-1e10f), 0); // INT32_MIN, low byte 0x00
  EXPECT_EQ(roundToInt8(INFINITY), -1);
}

TEST(Int8Test, Int8MatmulWrapsAroundInt32) {
  const int64_t k = 140000;
  std::vector<int8_t> a(k, -128), b(k, -128);
  int32_t c;
  int8Matmul(a.data(), b.data(), 1, 1, k, &c);
  EXPECT_EQ(c, static_cast<int32_t>(16384LL * k - 4294967296LL));
  std::vector<int8_t> x = {1, 2, 3, 4, 5, 6};
  std::vector<int8_t> y = {-1, 0, 1, 2, 2, 2};
  std::vector<int32_t> z(4);
  int8Matmul(x.data(), y.data(), 2, 2, 3, z.data());
  EXPECT_EQ(z, (std::vector<int32_t>{2, 12, 2, 30}));
}

TEST(Int8Test, GenericOverloadCastsToHalfFirst) {
  // 0.1 is not an fp16 value: the bf16 and f32 inputs are rounded to fp16
  // before quantization, exactly like the fp16 path sees them.
  std::vector<float> values = {0.1f, -0.7f, 3.3f, 1e-3f, 0.0f, 2.0f};
  std::vector<uint16_t> a = halves(values);
  std::vector<int8_t> expected(6), got(6);
  std::vector<float> statsExpected(2), stats(2);
  quantizeRowwise(a.data(), 2, 3, 0.0f, expected.data(), statsExpected.data());
  llvm::StdThreadPool pool(llvm::hardware_concurrency(2));
  quantizeRowwise(values.data(), DType::F32, 2, 3, 0.0f, got.data(),
                  stats.data(), &pool);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(stats, statsExpected);
  std::vector<uint16_t> bf;
  for (float v : values)
    bf.push_back(floatToBFloat16(v));
  quantizeRowwise(bf.data(), DType::BF16, 2, 3, 0.0f, got.data(), stats.data());
  std::vector<uint16_t> bfThenHalf;
  for (uint16_t v : bf)
    bfThenHalf.push_back(floatToHalf(bfloat16ToFloat(v)));
  quantizeRowwise(bfThenHalf.data(), 2, 3, 0.0f, expected.data(),
                  statsExpected.data());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(stats, statsExpected);
}

} // namespace
