//===- BlockwiseTest.cpp - NF4/FP4, 8-bit blockwise, double quant ---------===//
//
// TV1-TV6 and TV10 of bnb-numerics §10 with the exact bytes listed there, and
// random inputs against a naive re-implementation written here from the
// specification (its thresholds are typed in as bit patterns, not taken from
// the library).
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/Float16.h"

#include "llvm/Support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <sstream>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {

std::vector<uint8_t> hexBytes(const std::string &text) {
  std::vector<uint8_t> bytes;
  std::istringstream in(text);
  std::string byte;
  while (in >> byte)
    bytes.push_back(static_cast<uint8_t>(std::stoul(byte, nullptr, 16)));
  return bytes;
}

/// `values` stored as `dt` (exactly representable values only).
std::vector<uint8_t> encode(const std::vector<float> &values, DType dt) {
  std::vector<uint8_t> bytes(values.size() * dtypeSize(dt));
  for (size_t i = 0; i < values.size(); ++i)
    storeFromFloat(bytes.data(), dt, i, values[i]);
  return bytes;
}

struct Quantized {
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
};

Quantized run4bit(const std::vector<uint8_t> &input, DType dt, size_t n,
                  QuantType qt, int64_t blocksize,
                  llvm::ThreadPoolInterface *pool = nullptr) {
  Quantized q{std::vector<uint8_t>(packedSize(n), 0xaa),
              std::vector<float>(numBlocks(n, blocksize), -1.0f)};
  quantize4bit(input.data(), dt, n, qt, blocksize, q.packed.data(),
               q.absmax.data(), pool);
  return q;
}

std::vector<float> tv1Input(float scale) {
  std::vector<float> a(64);
  for (int j = 0; j < 64; ++j)
    a[j] = static_cast<float>(j - 32) / 32.0f * scale;
  return a;
}

const DType kFloatTypes[] = {DType::F16, DType::BF16, DType::F32};

TEST(BlockwiseTest, TV1NF4Ramp) {
  const char *expected = "00 00 01 11 11 11 12 22 22 33 33 44 45 55 66 67 "
                         "77 88 99 9a aa bb bc cc cd dd de ee ee ee ff ff";
  for (DType dt : kFloatTypes)
    for (float scale : {1.0f, 4.0f}) {
      Quantized q =
          run4bit(encode(tv1Input(scale), dt), dt, 64, QuantType::NF4, 64);
      EXPECT_EQ(q.packed, hexBytes(expected));
      ASSERT_EQ(q.absmax.size(), 1u);
      EXPECT_EQ(q.absmax[0], scale);
    }
  // Codes by index range, from the spec.
  const int ranges[][3] = {
      {0, 4, 0},    {5, 12, 1},   {13, 17, 2},  {18, 21, 3},
      {22, 24, 4},  {25, 27, 5},  {28, 30, 6},  {31, 33, 7},
      {34, 35, 8},  {36, 38, 9},  {39, 41, 10}, {42, 44, 11},
      {45, 48, 12}, {49, 52, 13}, {53, 59, 14}, {60, 63, 15}};
  for (const auto &range : ranges)
    for (int j = range[0]; j <= range[1]; ++j)
      EXPECT_EQ(quantizeNF4((j - 32) / 32.0f), range[2]) << j;
}

TEST(BlockwiseTest, TV1Dequantization) {
  Quantized q = run4bit(encode(tv1Input(4.0f), DType::F16), DType::F16, 64,
                        QuantType::NF4, 64);
  const float f16Times4[16] = {
      -4.0f,          -2.78515625f,   -2.099609375f,  -1.580078125f,
      -1.1376953125f, -0.7392578125f, -0.3642578125f, 0.0f,
      0.318359375f,   0.6435546875f,  0.984375f,      1.3515625f,
      1.7626953125f,  2.25f,          2.892578125f,   4.0f};
  std::vector<uint16_t> out(64);
  dequantize4bit(q.packed.data(), q.absmax.data(), 64, QuantType::NF4, 64,
                 DType::F16, out.data());
  for (int j = 0; j < 64; ++j) {
    uint8_t code = j % 2 ? q.packed[j / 2] & 0xf : q.packed[j / 2] >> 4;
    EXPECT_EQ(halfToFloat(out[j]), f16Times4[code]) << j;
  }
  // With absmax 1 the outputs are the f16 / bf16 columns of the NF4 table.
  const float f16Column[16] = {-1.0f,
                               -0.6962890625f,
                               -0.52490234375f,
                               -0.39501953125f,
                               -0.284423828125f,
                               -0.184814453125f,
                               -0.091064453125f,
                               0.0f,
                               0.07958984375f,
                               0.160888671875f,
                               0.24609375f,
                               0.337890625f,
                               0.440673828125f,
                               0.5625f,
                               0.72314453125f,
                               1.0f};
  const float bf16Column[16] = {
      -1.0f,          -0.6953125f,    -0.5234375f,    -0.39453125f,
      -0.28515625f,   -0.1845703125f, -0.0908203125f, 0.0f,
      0.07958984375f, 0.1611328125f,  0.24609375f,    0.337890625f,
      0.44140625f,    0.5625f,        0.72265625f,    1.0f};
  std::vector<uint8_t> packed(8);
  for (int c = 0; c < 16; ++c)
    packed[c / 2] |= static_cast<uint8_t>(c % 2 ? c : c << 4);
  float one = 1.0f;
  std::vector<uint16_t> f16(16), bf16(16);
  std::vector<float> f32(16);
  dequantize4bit(packed.data(), &one, 16, QuantType::NF4, 64, DType::F16,
                 f16.data());
  dequantize4bit(packed.data(), &one, 16, QuantType::NF4, 64, DType::BF16,
                 bf16.data());
  dequantize4bit(packed.data(), &one, 16, QuantType::NF4, 64, DType::F32,
                 f32.data());
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(halfToFloat(f16[c]), f16Column[c]) << c;
    EXPECT_EQ(bfloat16ToFloat(bf16[c]), bf16Column[c]) << c;
    EXPECT_EQ(floatBits(f32[c]), floatBits(kNF4Table[c])) << c;
  }
}

TEST(BlockwiseTest, TV2FP4Ramp) {
  const char *expected = "bb bb bb aa aa aa aa dd dd dc cc cf ff ee ee 99 "
                         "01 16 66 67 77 44 44 55 55 52 22 22 22 23 33 33";
  for (DType dt : kFloatTypes) {
    Quantized q =
        run4bit(encode(tv1Input(1.0f), dt), dt, 64, QuantType::FP4, 64);
    EXPECT_EQ(q.packed, hexBytes(expected));
    EXPECT_EQ(q.absmax[0], 1.0f);
  }
  const int ranges[][3] = {
      {0, 5, 11},   {6, 13, 10}, {14, 18, 13}, {19, 22, 12}, {23, 25, 15},
      {26, 29, 14}, {30, 31, 9}, {32, 32, 0},  {33, 34, 1},  {35, 38, 6},
      {39, 41, 7},  {42, 45, 4}, {46, 50, 5},  {51, 58, 2},  {59, 63, 3}};
  for (const auto &range : ranges)
    for (int j = range[0]; j <= range[1]; ++j)
      EXPECT_EQ(quantizeFP4((j - 32) / 32.0f), range[2]) << j;
}

TEST(BlockwiseTest, TV3OddLengthPadsWithTheCodeOfZero) {
  std::vector<float> input = {0.5f, -1.0f, 0.25f};
  for (DType dt : kFloatTypes) {
    Quantized q = run4bit(encode(input, dt), dt, 3, QuantType::NF4, 64);
    EXPECT_EQ(q.packed, hexBytes("c0 a7"));
    EXPECT_EQ(q.absmax, std::vector<float>{1.0f});
    q = run4bit(encode(input, dt), dt, 3, QuantType::FP4, 64);
    // 0.5 -> 5, -1 -> 11, 0.25 -> 7, padding 0 -> 0.
    EXPECT_EQ(q.packed, hexBytes("5b 70"));
  }
}

TEST(BlockwiseTest, TV4AllZeroBlock) {
  for (DType dt : kFloatTypes) {
    Quantized q = run4bit(encode(std::vector<float>(64, 0.0f), dt), dt, 64,
                          QuantType::NF4, 64);
    EXPECT_EQ(q.packed, std::vector<uint8_t>(32, 0x00));
    EXPECT_EQ(floatBits(q.absmax[0]), 0u);
    std::vector<uint16_t> out(64);
    dequantize4bit(q.packed.data(), q.absmax.data(), 64, QuantType::NF4, 64,
                   DType::F16, out.data());
    EXPECT_EQ(out, std::vector<uint16_t>(64, 0x8000));
    q = run4bit(encode(std::vector<float>(64, -0.0f), dt), dt, 64,
                QuantType::FP4, 64);
    EXPECT_EQ(q.packed, std::vector<uint8_t>(32, 0x00));
  }
  // An odd-length zero block: the padding nibble is the code of 0 * inf, NaN.
  Quantized q = run4bit(encode({0.0f, 0.0f, 0.0f}, DType::F32), DType::F32, 3,
                        QuantType::NF4, 64);
  EXPECT_EQ(q.packed, hexBytes("00 00"));
}

TEST(BlockwiseTest, TV5DynamicBlockwise) {
  std::vector<float> input(64, 0.0f);
  const float head[7] = {-1.0f, -0.5f, 0.0f, 0.001f, 0.5f, 0.75f, 1.0f};
  std::copy(head, head + 7, input.begin());
  const uint8_t expectedCodes[7] = {0, 35, 127, 142, 219, 237, 255};
  const float expectedValues[7] = {-0.99296874f,  -0.50078124f, 0.0f,
                                   0.0009437501f, 0.50078124f,  0.75390625f,
                                   1.0f};
  for (DType dt : kFloatTypes) {
    std::vector<uint8_t> bytes = encode(input, dt);
    std::vector<uint8_t> codes(64);
    float absmax = -1;
    quantizeBlockwise(bytes.data(), dt, 64, 64, codes.data(), &absmax);
    EXPECT_EQ(absmax, 1.0f);
    for (int i = 0; i < 64; ++i)
      EXPECT_EQ(codes[i], i < 7 ? expectedCodes[i] : 127) << i;
    std::vector<float> out(64);
    dequantizeBlockwise(codes.data(), &absmax, 64, 64, DType::F32, out.data());
    for (int i = 0; i < 7; ++i)
      EXPECT_EQ(out[i], expectedValues[i]) << i;
  }
  EXPECT_EQ(kDynamicMap[218], 0.4867187f);
  EXPECT_EQ(kDynamicMap[219], 0.50078124f);
  // Ties go to the even index.
  EXPECT_EQ(quantizeDynamic(floatFromBits(0x3efccccc)), 218);
  EXPECT_EQ(quantizeDynamic(floatFromBits(0x3f020000)), 220);
  EXPECT_EQ(quantizeDynamic(std::nextafter(floatFromBits(0x3efccccc), 1.0f)),
            219);
  EXPECT_EQ(quantizeDynamic(std::nextafter(floatFromBits(0x3f020000), 0.0f)),
            219);
}

TEST(BlockwiseTest, TV6DoubleQuantization) {
  const float absmax[4] = {2, 3, 5, 6};
  NestedAbsmax nested = doubleQuantize(absmax, 4);
  EXPECT_EQ(nested.offset, 4.0f);
  EXPECT_EQ(nested.nestedAbsmax, std::vector<float>{2.0f});
  EXPECT_EQ(nested.codes, (std::vector<uint8_t>{0, 35, 219, 255}));
  float out[4];
  reconstructAbsmax(nested.codes.data(), nested.nestedAbsmax.data(),
                    nested.offset, 4, out);
  const uint32_t expected[4] = {0x4000e666, 0x403fe666, 0x40a00ccd, 0x40c00000};
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(floatBits(out[i]), expected[i]) << i;
}

TEST(BlockwiseTest, NestedBlocksOf256) {
  std::vector<float> absmax(600);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(0.01f, 2.0f);
  for (float &a : absmax)
    a = dist(rng);
  absmax[300] = 50.0f; // dominates nested block 1 only
  NestedAbsmax nested = doubleQuantize(absmax.data(), absmax.size());
  ASSERT_EQ(nested.nestedAbsmax.size(), 3u);
  ASSERT_EQ(nested.codes.size(), 600u);
  EXPECT_EQ(nested.nestedAbsmax[1], 50.0f - nested.offset);
  double sum = 0;
  for (float a : absmax)
    sum += a;
  EXPECT_EQ(nested.offset, static_cast<float>(sum / 600));
  for (size_t i = 0; i < 600; ++i) {
    float centered = absmax[i] - nested.offset;
    float inv = 1.0f / nested.nestedAbsmax[i / 256];
    EXPECT_EQ(nested.codes[i], quantizeDynamic(centered * inv)) << i;
  }
  EXPECT_TRUE(std::isnan(absmaxMean(nullptr, 0)));
}

/// A naive 4-bit quantizer written from bnb-numerics §2.3.
Quantized naive4bit(const std::vector<float> &a, QuantType qt, size_t bs) {
  // The kernel's thresholds as nvcc compiles its literals (see TablesTest).
  static const uint32_t nf4[15] = {
      0xbf591cd9, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec,
      0xbe0d38bc, 0xbd3a7871, 0x3d22faff, 0x3df64863, 0x3e5067e0,
      0x3e9582d4, 0x3ec753f9, 0x3f006d03, 0x3f248daf, 0x3f5c89d9};
  static const uint32_t fp4[7] = {0x3b2aaab9, 0x3db00000, 0x3e555555,
                                  0x3e955555, 0x3ed55556, 0x3f155550,
                                  0x3f555555};
  static const int magnitudeCode[8] = {0, 1, 6, 7, 4, 5, 2, 3};
  auto code = [&](float x) {
    int c = 0;
    if (qt == QuantType::NF4) {
      for (uint32_t t : nf4)
        c += x > floatFromBits(t);
      return c;
    }
    float m = std::fabs(x);
    for (uint32_t t : fp4)
      c += m > floatFromBits(t);
    return magnitudeCode[c] + (x < 0 ? 8 : 0);
  };
  size_t n = a.size();
  Quantized q{std::vector<uint8_t>(packedSize(n)),
              std::vector<float>(numBlocks(n, bs))};
  for (size_t b = 0; b < q.absmax.size(); ++b) {
    size_t begin = b * bs, end = std::min(n, begin + bs);
    bool sawNumber = false;
    float m = 0;
    for (size_t e = begin; e < end; ++e)
      if (!std::isnan(a[e])) {
        sawNumber = true;
        m = std::max(m, std::fabs(a[e]));
      }
    if (!sawNumber && end - begin == bs)
      m = -FLT_MAX;
    q.absmax[b] = m;
    float inv = 1.0f / m;
    for (size_t e = begin; e < end + (end - begin) % 2; ++e) {
      int c = code((e < end ? a[e] : 0.0f) * inv);
      q.packed[e / 2] |= static_cast<uint8_t>(e % 2 ? c : c << 4);
    }
  }
  return q;
}

std::vector<float> randomValues(size_t n, std::mt19937 &rng, DType dt) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(n);
  for (float &v : values) {
    v = dist(rng) * 0.02f;
    // Round to the input type so the naive model sees the same values.
    std::vector<uint8_t> tmp(8);
    storeFromFloat(tmp.data(), dt, 0, v);
    v = loadAsFloat(tmp.data(), dt, 0);
  }
  return values;
}

TEST(BlockwiseTest, RandomInputsMatchNaiveModelForAllBlocksizesAndTypes) {
  std::mt19937 rng(1234);
  llvm::StdThreadPool pool(llvm::hardware_concurrency(2));
  for (int64_t bs = 32; bs <= 4096; bs *= 2)
    for (DType dt : kFloatTypes)
      for (QuantType qt : {QuantType::NF4, QuantType::FP4})
        for (size_t n : {size_t(1), size_t(bs - 1), size_t(bs),
                         size_t(3 * bs + 17), size_t(70001)}) {
          std::vector<float> values = randomValues(n, rng, dt);
          if (n > 40) {
            values[5] = 0.0f; // exact zeros and ties
            values[6] = -0.0f;
          }
          std::vector<uint8_t> bytes = encode(values, dt);
          Quantized expected = naive4bit(values, qt, bs);
          Quantized serial = run4bit(bytes, dt, n, qt, bs);
          Quantized parallel = run4bit(bytes, dt, n, qt, bs, &pool);
          ASSERT_EQ(serial.packed, expected.packed) << bs << " " << n;
          ASSERT_EQ(serial.absmax, expected.absmax) << bs << " " << n;
          ASSERT_EQ(parallel.packed, expected.packed) << bs << " " << n;
          ASSERT_EQ(parallel.absmax, expected.absmax) << bs << " " << n;
          Quantized scalar{std::vector<uint8_t>(packedSize(n)),
                           std::vector<float>(numBlocks(n, bs))};
          quantize4bitScalar(bytes.data(), dt, n, qt, bs, scalar.packed.data(),
                             scalar.absmax.data());
          ASSERT_EQ(scalar.packed, expected.packed) << bs << " " << n;
          ASSERT_EQ(scalar.absmax, expected.absmax) << bs << " " << n;
        }
}

TEST(BlockwiseTest, UnalignedInput) {
  std::mt19937 rng(5);
  std::vector<float> values = randomValues(1000, rng, DType::F16);
  std::vector<uint8_t> bytes = encode(values, DType::F16);
  bytes.insert(bytes.begin(), 0x55);
  Quantized q{std::vector<uint8_t>(500), std::vector<float>(16)};
  quantize4bit(bytes.data() + 1, DType::F16, 1000, QuantType::NF4, 64,
               q.packed.data(), q.absmax.data());
  Quantized expected = naive4bit(values, QuantType::NF4, 64);
  EXPECT_EQ(q.packed, expected.packed);
  EXPECT_EQ(q.absmax, expected.absmax);
}

TEST(BlockwiseTest, NaNAndInfinity) {
  const float nan = std::nanf("");
  // A NaN is ignored by the absmax and gets code 0.
  std::vector<float> a = {0.5f, nan, -1.0f, 0.25f};
  Quantized q =
      run4bit(encode(a, DType::F32), DType::F32, 4, QuantType::NF4, 64);
  EXPECT_EQ(q.absmax[0], 1.0f);
  EXPECT_EQ(q.packed, hexBytes("c0 0a"));
  // An infinity makes absmax inf: finite values -> +-0 (code 7), inf -> NaN
  // (code 0).
  a = {0.5f, INFINITY, -1.0f, -0.25f};
  q = run4bit(encode(a, DType::F16), DType::F16, 4, QuantType::NF4, 64);
  EXPECT_EQ(q.absmax[0], INFINITY);
  EXPECT_EQ(q.packed, hexBytes("70 77"));
  q = run4bit(encode(a, DType::F16), DType::F16, 4, QuantType::FP4, 64);
  // FP4: 0.5*0 = +0 -> 0, inf*0 = NaN -> 0, -1*0 = -0 -> 0 (sign from x < 0).
  EXPECT_EQ(q.packed, hexBytes("00 00"));
  // A full block of NaN keeps -FLT_MAX; a partial one has absmax 0.
  q = run4bit(encode(std::vector<float>(64, nan), DType::F32), DType::F32, 64,
              QuantType::NF4, 64);
  EXPECT_EQ(q.absmax[0], -FLT_MAX);
  EXPECT_EQ(q.packed, std::vector<uint8_t>(32, 0));
  q = run4bit(encode(std::vector<float>(63, nan), DType::F32), DType::F32, 63,
              QuantType::NF4, 64);
  EXPECT_EQ(floatBits(q.absmax[0]), 0u);
  // Second block partial and all NaN; first block normal.
  std::vector<float> two(96, 0.5f);
  std::fill(two.begin() + 64, two.end(), nan);
  q = run4bit(encode(two, DType::F32), DType::F32, 96, QuantType::FP4, 64);
  EXPECT_EQ(q.absmax, (std::vector<float>{0.5f, 0.0f}));
  std::vector<uint8_t> codes(64);
  float absmax;
  quantizeBlockwise(encode(std::vector<float>(64, nan), DType::F32).data(),
                    DType::F32, 64, 64, codes.data(), &absmax);
  EXPECT_EQ(absmax, -FLT_MAX);
  EXPECT_EQ(codes, std::vector<uint8_t>(64, 0));
}

TEST(BlockwiseTest, EmptyInputWritesNothing) {
  uint8_t packed = 0x5a;
  float absmax = 3.0f;
  quantize4bit(nullptr, DType::F16, 0, QuantType::NF4, 64, &packed, &absmax);
  EXPECT_EQ(packed, 0x5a);
  EXPECT_EQ(absmax, 3.0f);
  EXPECT_EQ(numBlocks(0, 64), 0u);
  EXPECT_EQ(packedSize(0), 0u);
}

TEST(BlockwiseDeathTest, InvalidBlocksizeIsFatal) {
  std::vector<uint16_t> input(8192, 0x3c00);
  std::vector<uint8_t> packed(4096);
  std::vector<float> absmax(1);
  EXPECT_DEATH(quantize4bit(input.data(), DType::F16, input.size(),
                            QuantType::NF4, 8192, packed.data(),
                            absmax.data()),
               "quantize4bit: invalid blocksize");
  EXPECT_DEATH(quantizeBlockwise(input.data(), DType::F16, 64, 32,
                                 packed.data(), absmax.data()),
               "quantizeBlockwise: invalid blocksize");
}

TEST(BlockwiseTest, BlocksizeValidity) {
  for (int64_t bs : {32, 64, 128, 256, 512, 1024, 2048, 4096})
    EXPECT_TRUE(isValid4bitBlocksize(bs)) << bs;
  for (int64_t bs : {0, 16, 48, 96, 8192, -64})
    EXPECT_FALSE(isValid4bitBlocksize(bs)) << bs;
  EXPECT_FALSE(isValidBlockwiseBlocksize(32));
  EXPECT_TRUE(isValidBlockwiseBlocksize(64));
  EXPECT_TRUE(isValidBlockwiseBlocksize(4096));
}

TEST(BlockwiseTest, TableValuesTimesAbsmaxKeepTheirCode) {
  for (QuantType qt : {QuantType::NF4, QuantType::FP4})
    for (float absmax : {1.0f, 0.5f, 3.0f, 0.0123f, 7.77f, 1e-3f, 300.0f})
      for (int c = 0; c < 16; ++c) {
        float v = codeTable(qt)[c];
        std::vector<float> block = {absmax, v * absmax};
        Quantized q = run4bit(encode(block, DType::F32), DType::F32, 2, qt, 64);
        uint8_t got = q.packed[0] & 0xf;
        // -0.0 (FP4 code 8) times absmax is -0.0, which encodes as +0 (code
        // 0) because -0.0 < 0 is false; every other value keeps its code.
        uint8_t expected = qt == QuantType::FP4 && c == 8 ? 0 : c;
        EXPECT_EQ(got, expected)
            << quantTypeName(qt).str() << " " << absmax << " " << c;
      }
}

TEST(BlockwiseTest, ThresholdsGoToTheLowerCode) {
  for (int k = 0; k < 15; ++k) {
    float t = kNF4Thresholds[k];
    EXPECT_EQ(quantizeNF4(t), k);
    EXPECT_EQ(quantizeNF4(std::nextafter(t, INFINITY)), k + 1);
    // The exact f32 midpoint goes to the lower code except where the kernel
    // literal rounds to the float just below it (0|1, 12|13, 14|15).
    float midpoint = (kNF4Table[k] + kNF4Table[k + 1]) * 0.5f;
    bool upper = k == 0 || k == 12 || k == 14;
    EXPECT_EQ(quantizeNF4(midpoint), upper ? k + 1 : k) << k;
  }
  const int magnitudeCode[8] = {0, 1, 6, 7, 4, 5, 2, 3};
  for (int k = 0; k < 7; ++k) {
    float t = kFP4Thresholds[k];
    EXPECT_EQ(quantizeFP4(t), magnitudeCode[k]);
    EXPECT_EQ(quantizeFP4(std::nextafter(t, INFINITY)), magnitudeCode[k + 1]);
    EXPECT_EQ(quantizeFP4(-t), magnitudeCode[k] | 8);
  }
  EXPECT_EQ(quantizeNF4(std::nanf("")), 0);
  EXPECT_EQ(quantizeFP4(std::nanf("")), 0);
  EXPECT_EQ(quantizeFP4(-0.0f), 0);
  EXPECT_EQ(quantizeFP4(-1e-3f), 8);
  EXPECT_EQ(quantizeFP4(-0.0026041f), 8);
  EXPECT_EQ(quantizeNF4(2.0f), 15);
  EXPECT_EQ(quantizeNF4(-2.0f), 0);
}

/// Nearest dynamic-map index with f32 midpoints and ties to the even index,
/// by exhaustive comparison.
int bruteForceDynamic(float x) {
  if (std::isnan(x))
    return 0;
  int below = 0;
  for (int k = 0; k < 255; ++k) {
    float mid = (kDynamicMap[k] + kDynamicMap[k + 1]) * 0.5f;
    if (x > mid)
      below = k + 1;
    else if (x == mid)
      return k % 2 == 0 ? k : k + 1;
  }
  return below;
}

TEST(BlockwiseTest, DynamicMapEntriesMidpointsAndRandomValues) {
  for (int i = 0; i < 256; ++i)
    EXPECT_EQ(quantizeDynamic(kDynamicMap[i]), i);
  for (int k = 0; k < 255; ++k) {
    float mid = (kDynamicMap[k] + kDynamicMap[k + 1]) * 0.5f;
    EXPECT_EQ(quantizeDynamic(mid), k % 2 ? k + 1 : k) << k;
    EXPECT_EQ(quantizeDynamic(mid), bruteForceDynamic(mid)) << k;
  }
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> wide(-1.2f, 1.2f);
  std::uniform_real_distribution<float> narrow(-0.01f, 0.01f);
  for (int i = 0; i < 200000; ++i) {
    float x = i % 2 ? wide(rng) : narrow(rng);
    ASSERT_EQ(quantizeDynamic(x), bruteForceDynamic(x)) << x;
  }
  EXPECT_EQ(quantizeDynamic(-5.0f), 0);
  EXPECT_EQ(quantizeDynamic(5.0f), 255);
  EXPECT_EQ(quantizeDynamic(std::nanf("")), 0);
}

TEST(BlockwiseTest, BlockwiseQuantizationOfEntriesAndMidpoints) {
  // Through the block kernel (vectorized where the CPU allows) rather than
  // quantizeDynamic: every entry, every midpoint and their neighbours, in a
  // block whose absmax is 1.
  std::vector<float> values = {1.0f};
  for (int k = 0; k < 256; ++k)
    values.push_back(kDynamicMap[k]);
  for (int k = 0; k < 255; ++k) {
    float mid = (kDynamicMap[k] + kDynamicMap[k + 1]) * 0.5f;
    values.push_back(mid);
    values.push_back(std::nextafter(mid, -1.0f));
    values.push_back(std::nextafter(mid, 1.0f));
  }
  values.push_back(std::nanf(""));
  std::vector<uint8_t> codes(values.size());
  std::vector<float> absmax(numBlocks(values.size(), 4096));
  quantizeBlockwise(values.data(), DType::F32, values.size(), 4096,
                    codes.data(), absmax.data());
  ASSERT_EQ(absmax[0], 1.0f);
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(codes[i], bruteForceDynamic(values[i])) << i;
}

TEST(BlockwiseTest, RoundTripErrorIsAtMostHalfTheGap) {
  std::mt19937 rng(3);
  for (QuantType qt : {QuantType::NF4, QuantType::FP4}) {
    std::vector<float> sorted(codeTable(qt), codeTable(qt) + 16);
    std::sort(sorted.begin(), sorted.end());
    std::vector<float> values = randomValues(64 * 200, rng, DType::F32);
    Quantized q =
        run4bit(encode(values, DType::F32), DType::F32, values.size(), qt, 64);
    std::vector<float> out(values.size());
    dequantize4bit(q.packed.data(), q.absmax.data(), values.size(), qt, 64,
                   DType::F32, out.data());
    for (size_t e = 0; e < values.size(); ++e) {
      float absmax = q.absmax[e / 64];
      double x = values[e] / absmax;
      size_t k =
          std::upper_bound(sorted.begin(), sorted.end(), x) - sorted.begin();
      k = std::clamp<size_t>(k, 1, 15);
      double halfGap = (sorted[k] - sorted[k - 1]) / 2.0 * absmax;
      ASSERT_LE(std::fabs(out[e] - values[e]), halfGap * (1 + 1e-5) + 1e-12)
          << e;
    }
  }
}

TEST(BlockwiseTest, DequantizeBlockwiseAndAbsmaxOnly) {
  std::mt19937 rng(11);
  std::vector<float> values = randomValues(1000, rng, DType::BF16);
  std::vector<uint8_t> bytes = encode(values, DType::BF16);
  std::vector<float> absmax(numBlocks(1000, 128)), absmaxOnly(absmax.size());
  std::vector<uint8_t> codes(1000);
  quantizeBlockwise(bytes.data(), DType::BF16, 1000, 128, codes.data(),
                    absmax.data());
  computeAbsmax(bytes.data(), DType::BF16, 1000, 128, absmaxOnly.data());
  EXPECT_EQ(absmax, absmaxOnly);
  std::vector<float> out(1000);
  dequantizeBlockwise(codes.data(), absmax.data(), 1000, 128, DType::F32,
                      out.data());
  for (size_t e = 0; e < 1000; ++e)
    ASSERT_EQ(out[e], kDynamicMap[codes[e]] * absmax[e / 128]);
}

} // namespace
