//===- X86KernelsTest.cpp - AVX-512 kernels equal the scalar paths --------===//
//
// The AVX-512 kernels (and the public functions that dispatch to them) must
// produce the bytes of the scalar transcriptions of the CUDA kernels:
// quantize4bitScalar for 4-bit codes and absmax, and the fp16 overload of
// quantizeRowwise for LLM.int8() weights. Inputs: random values, random bit
// patterns (NaN payloads, infinities, subnormals), special blocks, and values
// on and next to every threshold (typed in from bitsandbytes' kernel
// literals, not taken from the library), for every input dtype, quant type
// and blocksize. Skipped on CPUs without AVX-512.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/X86Kernels.h"
#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/Float16.h"
#include "bnb/Quant/Int8.h"

#include "llvm/Support/ThreadPool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {

/// kdequantize/kQuantizeBlockwise's NF4 decision literals, ascending.
const float kNF4Literals[15] = {
    -0.8480964004993439f,   -0.6106329262256622f,  -0.4599952697753906f,
    -0.33967943489551544f,  -0.23460740596055984f, -0.13791173323988914f,
    -0.045525018125772476f, 0.03979014977812767f,  0.1202552504837513f,
    0.2035212516784668f,    0.2920137718319893f,   0.3893125355243683f,
    0.5016634166240692f,    0.6427869200706482f,   0.8614784181118011f};

/// The FP4 magnitude literals of dQuantizeFP4.
const float kFP4Literals[7] = {0.00260417f, 0.0859375f, 0.20833333f,
                               0.29166667f, 0.4166667f, 0.583333f,
                               0.8333333f};

const DType kDTypes[] = {DType::F16, DType::BF16, DType::F32};
const QuantType kQuantTypes[] = {QuantType::NF4, QuantType::FP4};

/// An input buffer of `dt` elements, written from floats or from raw bits.
struct Input {
  DType dt;
  std::vector<uint8_t> bytes;
  explicit Input(DType dt, size_t n = 0) : dt(dt), bytes(n * dtypeSize(dt)) {}
  size_t size() const { return bytes.size() / dtypeSize(dt); }
  void push(float v) {
    size_t i = size();
    bytes.resize(bytes.size() + dtypeSize(dt));
    storeFromFloat(bytes.data(), dt, i, v);
  }
  void pushBits(uint32_t bits) {
    size_t width = dtypeSize(dt);
    for (size_t b = 0; b < width; ++b)
      bytes.push_back(static_cast<uint8_t>(bits >> (8 * b)));
  }
};

/// Appends `count` elements: random values of random scale, random bit
/// patterns, or (pattern 2) a mix with NaN and infinity sprinkled in.
void appendRandom(Input &in, size_t count, std::mt19937 &rng, int pattern) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<uint32_t> bits;
  std::uniform_int_distribution<int> exponent(-30, 10);
  float scale = std::ldexp(1.0f, exponent(rng));
  for (size_t i = 0; i < count; ++i) {
    if (pattern == 1) {
      in.pushBits(bits(rng));
    } else if (pattern == 2 && bits(rng) % 17 == 0) {
      uint32_t pick = bits(rng) % 3;
      in.push(pick == 0 ? NAN : pick == 1 ? INFINITY : -INFINITY);
    } else {
      in.push(normal(rng) * scale);
    }
  }
}

/// Blocks of `blocksize` with special contents: zeros, negative zeros, NaN,
/// infinities, subnormals, one non-zero element, and values on and next to
/// every threshold (normalized by an absmax of 1 or of 0.5).
Input specialBlocks(DType dt, size_t blocksize) {
  Input in(dt);
  auto fill = [&](auto value) {
    for (size_t i = 0; i < blocksize; ++i)
      in.push(value(i));
  };
  fill([](size_t) { return 0.0f; });
  fill([](size_t) { return -0.0f; });
  fill([](size_t) { return NAN; });
  fill([](size_t i) { return i == 3 ? INFINITY : 0.25f; });
  fill([](size_t i) { return i == 5 ? -INFINITY : -0.75f; });
  fill([](size_t i) { return i % 2 ? NAN : 0.5f; });
  fill([](size_t i) { return i == 7 ? 1.0f : 0.0f; });
  fill([](size_t i) { return i % 3 ? 0.0f : -2.0f; });
  // Subnormals of the dtype (f16's are normal floats).
  float tiny = dt == DType::F16 ? std::ldexp(1.0f, -24) : FLT_TRUE_MIN;
  fill([&](size_t i) { return tiny * float(i % 5) * (i % 2 ? -1.0f : 1.0f); });
  fill([&](size_t i) { return i == 0 ? -tiny : 0.0f; });
  // Thresholds: x = v * reciprocal(absmax) with absmax 1 (exact) or 2.
  for (float absmax : {1.0f, -1.0f, 2.0f}) {
    std::vector<float> values;
    auto around = [&](float t) {
      float v = t * std::fabs(absmax);
      // The value itself and its dtype neighbours.
      for (int step = -2; step <= 2; ++step) {
        float w = v;
        if (dt == DType::F32) {
          for (int s = 0; s < std::abs(step); ++s)
            w = std::nextafter(w, step > 0 ? INFINITY : -INFINITY);
        } else {
          uint16_t h = dt == DType::F16 ? floatToHalf(v) : floatToBFloat16(v);
          h = static_cast<uint16_t>(h + step);
          w = dt == DType::F16 ? halfToFloat(h) : bfloat16ToFloat(h);
        }
        values.push_back(w);
      }
    };
    for (float t : kNF4Literals)
      around(t);
    for (float t : kFP4Literals) {
      around(t);
      around(-t);
    }
    values.push_back(0.0f);
    values.push_back(-0.0f);
    for (size_t begin = 0; begin < values.size(); begin += blocksize - 1) {
      in.push(absmax);
      for (size_t i = 1; i < blocksize; ++i) {
        size_t k = begin + i - 1;
        in.push(k < values.size() ? values[k] : 0.0f);
      }
    }
  }
  return in;
}

struct FourBit {
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
};

FourBit scalar4bit(const Input &in, size_t n, QuantType qt, size_t bs) {
  FourBit q{std::vector<uint8_t>(packedSize(n)),
            std::vector<float>(numBlocks(n, bs))};
  quantize4bitScalar(in.bytes.data(), in.dt, n, qt, bs, q.packed.data(),
                     q.absmax.data());
  return q;
}

/// Absmax arrays equal bit for bit (NaN never occurs, -0.0 must not).
void expectSameAbsmax(const std::vector<float> &expected, const float *actual,
                      size_t count, const std::string &what) {
  for (size_t b = 0; b < count; ++b)
    ASSERT_EQ(floatBits(expected[b]), floatBits(actual[b]))
        << what << " block " << b;
}

void expectSameBytes(const uint8_t *expected, const uint8_t *actual,
                     size_t count, const std::string &what) {
  for (size_t i = 0; i < count; ++i)
    ASSERT_EQ(int(expected[i]), int(actual[i])) << what << " byte " << i;
}

std::string describe(DType dt, QuantType qt, size_t bs, int pattern) {
  return std::string(dtypeSafetensorsName(dt).str()) +
         (qt == QuantType::NF4 ? " nf4" : " fp4") + " blocksize " +
         std::to_string(bs) + " pattern " + std::to_string(pattern);
}

class X86KernelsTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!x86::available())
      GTEST_SKIP() << "no AVX-512 on this CPU";
  }
};

TEST_F(X86KernelsTest, FourBitBlocksEqualScalarForEveryTypeAndBlocksize) {
  std::mt19937 rng(1234);
  for (DType dt : kDTypes)
    for (size_t bs = 32; bs <= 4096; bs *= 2)
      for (int pattern = 0; pattern < 4; ++pattern) {
        Input in = pattern == 3 ? specialBlocks(dt, bs) : Input(dt);
        if (pattern != 3)
          appendRandom(in, bs * std::max<size_t>(3, 8192 / bs), rng, pattern);
        size_t blocks = in.size() / bs;
        for (QuantType qt : kQuantTypes) {
          std::string what = describe(dt, qt, bs, pattern);
          FourBit expected = scalar4bit(in, blocks * bs, qt, bs);
          FourBit actual{std::vector<uint8_t>(blocks * bs / 2, 0xaa),
                         std::vector<float>(blocks, -1.0f)};
          x86::quantize4bitBlocks(in.bytes.data(), dt, qt, bs, 0, blocks,
                                  actual.packed.data(), actual.absmax.data());
          expectSameAbsmax(expected.absmax, actual.absmax.data(), blocks, what);
          expectSameBytes(expected.packed.data(), actual.packed.data(),
                          actual.packed.size(), what);
          std::vector<float> absmaxOnly(blocks, -1.0f);
          x86::absmaxBlocks(in.bytes.data(), dt, bs, 0, blocks,
                            absmaxOnly.data());
          expectSameAbsmax(expected.absmax, absmaxOnly.data(), blocks,
                           what + " absmax only");
        }
      }
}

TEST_F(X86KernelsTest, EveryHalfPatternEqualsScalar) {
  // All 65536 fp16 and bf16 bit patterns, once each, in blocks of 64.
  for (DType dt : {DType::F16, DType::BF16}) {
    Input in(dt);
    for (uint32_t bits = 0; bits < 65536; ++bits)
      in.pushBits(bits);
    for (QuantType qt : kQuantTypes) {
      FourBit expected = scalar4bit(in, 65536, qt, 64);
      FourBit actual{std::vector<uint8_t>(32768), std::vector<float>(1024)};
      x86::quantize4bitBlocks(in.bytes.data(), dt, qt, 64, 0, 1024,
                              actual.packed.data(), actual.absmax.data());
      expectSameAbsmax(expected.absmax, actual.absmax.data(), 1024, "all");
      expectSameBytes(expected.packed.data(), actual.packed.data(), 32768,
                      "all");
    }
  }
}

TEST_F(X86KernelsTest, PublicFunctionsWithPartialBlocksAndPoolEqualScalar) {
  llvm::StdThreadPool pool(llvm::hardware_concurrency(2));
  std::mt19937 rng(99);
  for (DType dt : kDTypes)
    for (size_t bs : {32, 64, 256, 4096})
      for (size_t n : {bs - 1, bs + 1, 3 * bs + 17, size_t(300000) + 3}) {
        Input in(dt);
        appendRandom(in, n, rng, 2);
        // One byte of offset: the kernels must not assume alignment.
        std::vector<uint8_t> raw(1, 0);
        raw.insert(raw.end(), in.bytes.begin(), in.bytes.end());
        for (QuantType qt : kQuantTypes) {
          std::string what =
              describe(dt, qt, bs, 2) + " n " + std::to_string(n);
          FourBit expected = scalar4bit(in, n, qt, bs);
          FourBit actual{std::vector<uint8_t>(packedSize(n), 0xaa),
                         std::vector<float>(numBlocks(n, bs), -1.0f)};
          quantize4bit(raw.data() + 1, dt, n, qt, bs, actual.packed.data(),
                       actual.absmax.data(), &pool);
          expectSameAbsmax(expected.absmax, actual.absmax.data(),
                           actual.absmax.size(), what);
          expectSameBytes(expected.packed.data(), actual.packed.data(),
                          actual.packed.size(), what);
          std::vector<float> absmax(numBlocks(n, bs), -1.0f);
          computeAbsmax(raw.data() + 1, dt, n, bs, absmax.data(), &pool);
          expectSameAbsmax(expected.absmax, absmax.data(), absmax.size(),
                           what + " computeAbsmax");
        }
      }
}

/// 8-bit blockwise quantization written element by element: CUDA's absmax
/// rule (fmaxf ignoring NaN from -FLT_MAX, a partial block's padding zeros
/// included) and quantizeDynamic, the scalar 7-step search.
void scalarDynamic(const Input &in, size_t n, size_t bs,
                   std::vector<uint8_t> &codes, std::vector<float> &absmax) {
  codes.assign(n, 0);
  absmax.assign(numBlocks(n, bs), 0.0f);
  for (size_t b = 0; b < absmax.size(); ++b) {
    size_t start = b * bs, end = std::min(n, start + bs);
    float m = end - start < bs ? 0.0f : -FLT_MAX;
    for (size_t e = start; e < end; ++e) {
      float a = std::fabs(loadAsFloat(in.bytes.data(), in.dt, e));
      if (!std::isnan(a) && a > m)
        m = a;
    }
    absmax[b] = m;
    float inv = reciprocal(m);
    for (size_t e = start; e < end; ++e)
      codes[e] = quantizeDynamic(loadAsFloat(in.bytes.data(), in.dt, e) * inv);
  }
}

TEST_F(X86KernelsTest, DynamicBlocksEqualScalar) {
  llvm::StdThreadPool pool(llvm::hardware_concurrency(2));
  std::mt19937 rng(31);
  for (DType dt : kDTypes)
    for (size_t bs = 64; bs <= 4096; bs *= 4)
      for (int pattern = 0; pattern < 4; ++pattern) {
        Input in = pattern == 3 ? specialBlocks(dt, bs) : Input(dt);
        if (pattern != 3)
          appendRandom(in, bs * std::max<size_t>(3, 16384 / bs) + 77, rng,
                       pattern);
        size_t n = in.size();
        std::string what = describe(dt, QuantType::NF4, bs, pattern);
        std::vector<uint8_t> expected;
        std::vector<float> expectedAbsmax;
        scalarDynamic(in, n, bs, expected, expectedAbsmax);
        size_t blocks = n / bs;
        std::vector<uint8_t> direct(blocks * bs, 0xaa);
        std::vector<float> directAbsmax(blocks, -1.0f);
        x86::quantizeDynamicBlocks(in.bytes.data(), dt, bs, 0, blocks,
                                   direct.data(), directAbsmax.data());
        expectSameAbsmax(expectedAbsmax, directAbsmax.data(), blocks, what);
        expectSameBytes(expected.data(), direct.data(), direct.size(), what);
        std::vector<uint8_t> codes(n, 0xaa);
        std::vector<float> absmax(numBlocks(n, bs), -1.0f);
        quantizeBlockwise(in.bytes.data(), dt, n, bs, codes.data(),
                          absmax.data(), &pool);
        expectSameAbsmax(expectedAbsmax, absmax.data(), absmax.size(), what);
        expectSameBytes(expected.data(), codes.data(), n, what);
      }
}

TEST_F(X86KernelsTest, DoubleQuantizationOfRandomAbsmaxEqualsScalar) {
  // The nested path as the compiler runs it: f32 absmax minus its mean.
  std::mt19937 rng(5);
  std::exponential_distribution<float> scale(40.0f);
  for (size_t count : {size_t(255), size_t(256 * 37 + 5)}) {
    std::vector<float> absmax(count);
    for (float &a : absmax)
      a = scale(rng);
    NestedAbsmax nested = doubleQuantize(absmax.data(), count);
    Input centered(DType::F32);
    for (float a : absmax)
      centered.push(a - nested.offset);
    std::vector<uint8_t> expected;
    std::vector<float> expectedNested;
    scalarDynamic(centered, count, kNestedBlocksize, expected, expectedNested);
    expectSameAbsmax(expectedNested, nested.nestedAbsmax.data(),
                     expectedNested.size(), "nested");
    expectSameBytes(expected.data(), nested.codes.data(), count, "codes");
  }
}

/// The scalar LLM.int8() weight quantization: round to fp16, then the fp16
/// overload of quantizeRowwise (which the kernels never serve).
void scalarInt8(const Input &in, int64_t rows, int64_t cols,
                std::vector<int8_t> &out, std::vector<float> &stats) {
  std::vector<uint16_t> half(in.size());
  for (size_t i = 0; i < half.size(); ++i)
    half[i] =
        in.dt == DType::F16
            ? static_cast<uint16_t>(in.bytes[2 * i] | in.bytes[2 * i + 1] << 8)
            : floatToHalf(loadAsFloat(in.bytes.data(), in.dt, i));
  out.assign(rows * cols, 0);
  stats.assign(rows, -1.0f);
  quantizeRowwise(half.data(), rows, cols, 0.0f, out.data(), stats.data());
}

TEST_F(X86KernelsTest, Int8RowsEqualScalar) {
  llvm::StdThreadPool pool(llvm::hardware_concurrency(2));
  std::mt19937 rng(7);
  for (DType dt : kDTypes)
    for (int64_t cols : {1, 15, 16, 17, 64, 4099})
      for (int pattern = 0; pattern < 4; ++pattern) {
        int64_t rows = cols < 64 ? 301 : 37;
        Input in(dt);
        if (pattern == 3) {
          // Zero, NaN, infinite, subnormal and beyond-fp16 rows.
          float tiny = dt == DType::F16 ? std::ldexp(1.0f, -24) : FLT_TRUE_MIN;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c) {
              switch (r % 7) {
              case 0:
                in.push(0.0f);
                break;
              case 1:
                in.push(c % 3 ? NAN : -0.5f);
                break;
              case 2:
                in.push(c == cols / 2 ? INFINITY : 1.0f);
                break;
              case 3:
                in.push(tiny * float(c % 4));
                break;
              case 4:
                in.push(c % 2 ? 70000.0f : -3.0f);
                break;
              case 5:
                in.push(NAN);
                break;
              default:
                in.push(float(c % 255) - 127.0f);
                break;
              }
            }
        } else {
          appendRandom(in, size_t(rows * cols), rng, pattern);
        }
        std::vector<int8_t> expected;
        std::vector<float> expectedStats;
        scalarInt8(in, rows, cols, expected, expectedStats);
        std::vector<int8_t> direct(rows * cols, 99);
        std::vector<float> directStats(rows, -1.0f);
        x86::quantizeRowsInt8(in.bytes.data(), dt, cols, 0, rows, direct.data(),
                              directStats.data());
        std::vector<int8_t> pooled(rows * cols, 99);
        std::vector<float> pooledStats(rows, -1.0f);
        quantizeRowwise(in.bytes.data(), dt, rows, cols, 0.0f, pooled.data(),
                        pooledStats.data(), &pool);
        std::string what = std::string(dtypeSafetensorsName(dt).str()) +
                           " cols " + std::to_string(cols) + " pattern " +
                           std::to_string(pattern);
        expectSameAbsmax(expectedStats, directStats.data(), rows, what);
        expectSameAbsmax(expectedStats, pooledStats.data(), rows, what);
        for (size_t i = 0; i < expected.size(); ++i) {
          ASSERT_EQ(expected[i], direct[i]) << what << " element " << i;
          ASSERT_EQ(expected[i], pooled[i]) << what << " element " << i;
        }
      }
}

TEST_F(X86KernelsTest, ThresholdLiteralsMatchTheLibraryTables) {
  // The kernels read the library's tables; the literals above are what the
  // CUDA source says, so this pins the comparison points of the tests.
  for (int k = 0; k < 15; ++k)
    EXPECT_EQ(floatBits(kNF4Literals[k]), floatBits(kNF4Thresholds[k])) << k;
  for (int k = 0; k < 7; ++k)
    EXPECT_EQ(floatBits(kFP4Literals[k]), floatBits(kFP4Thresholds[k])) << k;
}

} // namespace
