//===- ReferenceTest.cpp - golden-model linear layers ---------------------===//
//
// TV7/TV8 through the whole Linear8bitLt forward (fp16 values from
// bnb-numerics §10; bf16 and fp32 values worked out by hand from the same
// steps), and the 4-bit forward on TV1's weight with expected values from
// the NF4 table.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/Reference.h"
#include "bnb/Support/Float16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {

std::vector<uint8_t> encode(const std::vector<float> &values, DType dt) {
  std::vector<uint8_t> bytes(values.size() * dtypeSize(dt));
  for (size_t i = 0; i < values.size(); ++i)
    storeFromFloat(bytes.data(), dt, i, values[i]);
  return bytes;
}

std::vector<float> decode(const std::vector<uint8_t> &bytes, DType dt) {
  std::vector<float> values(bytes.size() / dtypeSize(dt));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = loadAsFloat(bytes.data(), dt, i);
  return values;
}

const std::vector<float> kTV7Weight = {0.5f, 0.5f,  -1.0f, 0.25f,
                                       4.0f, -2.0f, 1.0f,  0.0f};
const std::vector<int8_t> kTV7CB = {64, 64, -127, 32, 127, -64, 32, 0};
const std::vector<float> kTV7SCB = {1.0f, 4.0f};
const std::vector<float> kTV8Input = {1.0f, 8.0f,   -0.5f, 0.25f,
                                      0.5f, -0.25f, 2.0f,  1.0f};

std::vector<float> runInt8(const std::vector<float> &x, DType xdt, int64_t m,
                           const std::vector<float> *bias, DType biasDt,
                           float threshold) {
  std::vector<uint8_t> xb = encode(x, xdt), y(m * 2 * dtypeSize(xdt));
  std::vector<uint8_t> bb =
      bias ? encode(*bias, biasDt) : std::vector<uint8_t>();
  linearInt8Reference(xb.data(), xdt, m, 4, kTV7CB.data(), kTV7SCB.data(), 2,
                      bias ? bb.data() : nullptr, biasDt, threshold, y.data());
  return decode(y, xdt);
}

TEST(ReferenceTest, TV7FromFloatWeight) {
  std::vector<uint8_t> x = encode({1.0f, -0.5f, 0.25f, 2.0f}, DType::F16);
  std::vector<uint8_t> w = encode(kTV7Weight, DType::F16);
  std::vector<uint16_t> y(2);
  linearInt8FromFloatWeight(x.data(), DType::F16, 1, 4, w.data(), DType::F16, 2,
                            nullptr, DType::F16, 0.0f, y.data());
  EXPECT_EQ(halfToFloat(y[0]), 0.505859375f);
  EXPECT_EQ(halfToFloat(y[1]), 5.30078125f);
  // An f32 bias is cast to the fp16 input dtype and fused.
  std::vector<float> bias = {0.125f, -1.0f};
  linearInt8FromFloatWeight(x.data(), DType::F16, 1, 4, w.data(), DType::F16, 2,
                            bias.data(), DType::F32, 0.0f, y.data());
  EXPECT_EQ(halfToFloat(y[0]), 0.630859375f);
  EXPECT_EQ(halfToFloat(y[1]), 4.30078125f);
}

TEST(ReferenceTest, TV7BFloat16BiasIsAddedAfterTheKernel) {
  // out16 = f16(0.505859375 + 0.125) = 0.630859375, then bf16: 161.5/256
  // ties to even 162/256 = 0.6328125; 4.30078125 -> 4.3125.
  std::vector<float> bias = {0.125f, -1.0f};
  std::vector<float> y = runInt8({1.0f, -0.5f, 0.25f, 2.0f}, DType::BF16, 1,
                                 &bias, DType::BF16, 0.0f);
  EXPECT_EQ(y, (std::vector<float>{0.6328125f, 4.3125f}));
  y = runInt8({1.0f, -0.5f, 0.25f, 2.0f}, DType::F32, 1, &bias, DType::F32,
              0.0f);
  EXPECT_EQ(y, (std::vector<float>{0.630859375f, 4.30078125f}));
}

TEST(ReferenceTest, TV8Float16) {
  std::vector<float> y =
      runInt8(kTV8Input, DType::F16, 2, nullptr, DType::F16, 6.0f);
  EXPECT_EQ(y, (std::vector<float>{5.1015625f, -12.6328125f, -1.6181640625f,
                                   4.53515625f}));
  // Without the threshold the outlier goes through int8 like everything else.
  std::vector<float> noThreshold =
      runInt8(kTV8Input, DType::F16, 2, nullptr, DType::F16, 0.0f);
  EXPECT_NE(noThreshold, y);
}

TEST(ReferenceTest, TV8BFloat16AndFloat32) {
  // The int8 part is the same fp16 result; the outlier product uses
  // subB = T(CB[:, 1] * SCB / 127) and one rounding of (product + out).
  std::vector<float> y =
      runInt8(kTV8Input, DType::BF16, 2, nullptr, DType::BF16, 6.0f);
  EXPECT_EQ(y, (std::vector<float>{5.09375f, -12.625f, -1.6171875f, 4.53125f}));
  y = runInt8(kTV8Input, DType::F32, 2, nullptr, DType::F32, 6.0f);
  EXPECT_EQ(y, (std::vector<float>{5.102785110473633f, -12.633796691894531f,
                                   -1.6181716918945312f, 4.535186767578125f}));
}

/// TV1's NF4 codes by element index.
int tv1Code(int j) {
  const int ends[16] = {4,  12, 17, 21, 24, 27, 30, 33,
                        35, 38, 41, 44, 48, 52, 59, 63};
  int code = 0;
  while (j > ends[code])
    ++code;
  return code;
}

TEST(ReferenceTest, Linear4bitOnTV1Weight) {
  // Weight [2, 64]: row 0 the TV1 ramp (absmax 1), row 1 four times it
  // (absmax 4); both rows have TV1's codes.
  std::vector<float> w(128);
  for (int j = 0; j < 64; ++j) {
    w[j] = (j - 32) / 32.0f;
    w[64 + j] = (j - 32) / 8.0f;
  }
  std::vector<uint8_t> wb = encode(w, DType::F16);
  std::vector<uint8_t> packed(64);
  std::vector<float> absmax(2);
  quantize4bit(wb.data(), DType::F16, 128, QuantType::NF4, 64, packed.data(),
               absmax.data());
  std::vector<float> x(64);
  for (int k = 0; k < 64; ++k)
    x[k] = 0.5f * static_cast<float>(k % 4) - 0.5f;
  std::vector<uint8_t> xb = encode(x, DType::F16);

  // Expected: the exact sum of x * f16(table * absmax), rounded once (the
  // partial sums are exact in f32 here).
  double sums[2] = {0, 0};
  for (int row = 0; row < 2; ++row)
    for (int k = 0; k < 64; ++k) {
      float wv =
          halfToFloat(floatToHalf(kNF4Table[tv1Code(k)] * (row ? 4.0f : 1.0f)));
      sums[row] += static_cast<double>(x[k]) * wv;
    }
  std::vector<uint16_t> y(2);
  linear4bitReference(xb.data(), DType::F16, 1, 64, packed.data(),
                      absmax.data(), QuantType::NF4, 64, 2, nullptr, DType::F16,
                      DType::F16, y.data());
  EXPECT_EQ(halfToFloat(y[0]),
            halfToFloat(floatToHalf(static_cast<float>(sums[0]))));
  EXPECT_EQ(halfToFloat(y[1]),
            halfToFloat(floatToHalf(static_cast<float>(sums[1]))));

  // f32 compute with an f32 bias: the weight is dequantized to f32 (the
  // table values themselves), the bias added in f32, then cast to fp16.
  double sums32[2] = {0, 0};
  for (int row = 0; row < 2; ++row)
    for (int k = 0; k < 64; ++k)
      sums32[row] += static_cast<double>(x[k]) *
                     (kNF4Table[tv1Code(k)] * (row ? 4.0f : 1.0f));
  std::vector<float> bias = {0.25f, -3.0f};
  linear4bitReference(xb.data(), DType::F16, 1, 64, packed.data(),
                      absmax.data(), QuantType::NF4, 64, 2, bias.data(),
                      DType::F32, DType::F32, y.data());
  for (int row = 0; row < 2; ++row) {
    float expected = static_cast<float>(sums32[row]) + bias[row];
    EXPECT_EQ(halfToFloat(y[row]), halfToFloat(floatToHalf(expected))) << row;
  }

  // The nested variant reconstructs the absmax first.
  NestedAbsmax nested = doubleQuantize(absmax.data(), 2);
  std::vector<float> rebuilt(2);
  reconstructAbsmax(nested.codes.data(), nested.nestedAbsmax.data(),
                    nested.offset, 2, rebuilt.data());
  std::vector<uint16_t> yNested(2), yRebuilt(2);
  linear4bitReferenceNested(xb.data(), DType::F16, 1, 64, packed.data(),
                            nested.codes.data(), nested.nestedAbsmax.data(),
                            nested.offset, QuantType::NF4, 64, 2, nullptr,
                            DType::F16, DType::BF16, yNested.data());
  linear4bitReference(xb.data(), DType::F16, 1, 64, packed.data(),
                      rebuilt.data(), QuantType::NF4, 64, 2, nullptr,
                      DType::F16, DType::BF16, yRebuilt.data());
  EXPECT_EQ(yNested, yRebuilt);
}

TEST(ReferenceTest, GemmAccumulatesWithFusedMultiplyAdd) {
  // The second product is 2^-24 * (1 + 2^-24 - 2^-47): rounded on its own
  // it is 2^-24 and 1 + 2^-24 ties to 1; fused, the sum is just above the
  // tie and rounds up.
  float a[2] = {1.0f, std::ldexp(1.0f, -12) * (1.0f + std::ldexp(1.0f, -23))};
  float b[2] = {1.0f, std::ldexp(1.0f, -12) * (1.0f - std::ldexp(1.0f, -24))};
  float y;
  referenceGemm(a, b, DType::F32, 1, 1, 2, nullptr, DType::F32, &y);
  EXPECT_EQ(y, std::fmaf(a[1], b[1], 1.0f));
  EXPECT_EQ(y, 1.0f + std::ldexp(1.0f, -23));
}

} // namespace
