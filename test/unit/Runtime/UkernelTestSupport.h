//===- UkernelTestSupport.h - helpers of the microkernel tests -*- C++ -*-===//
//
// Memref descriptors built by hand as compiled code passes them, the
// double-precision references built with lib/Quant's independent
// dequantization, and the loop over instruction sets and thread counts.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_UNIT_RUNTIME_UKERNELTESTSUPPORT_H
#define BNB_TEST_UNIT_RUNTIME_UKERNELTESTSUPPORT_H

#include "bnb_runtime.h"
#include "bnb_ukernels.h"
#include "ukernels/TestHooks.h"

#include "bnb/Quant/Blockwise.h"
#include "bnb/Quant/Tables.h"
#include "bnb/Support/Float16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace bnb::uktest {

using namespace bnb;
using namespace bnb::quant;

/// A ranked memref descriptor as MLIR's LLVM lowering lays it out.
template <int R> struct Desc {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[R];
  int64_t strides[R];
};

template <typename T> inline Desc<1> desc1(std::vector<T> &v) {
  return {v.data(), v.data(), 0, {static_cast<int64_t>(v.size())}, {1}};
}

template <typename T>
inline Desc<2> desc2(std::vector<T> &v, int64_t rows, int64_t cols) {
  return {v.data(), v.data(), 0, {rows, cols}, {cols, 1}};
}

/// The instruction sets this machine runs.
inline std::vector<std::string> supportedIsas() {
  std::vector<std::string> isas;
  for (const char *isa : {"amx", "avx512", "avx2", "generic"})
    if (bnbrt_ukernel_force_isa(isa) == 0)
      isas.push_back(isa);
  bnbrt_ukernel_force_isa(nullptr);
  return isas;
}

/// The accepted error: |out - ref| <= 1e-5 * sum_k |x*w| + 1e-6. The kernels
/// accumulate in f32 in an order of their choosing; the worst case of a
/// K-term f32 sum is K*2^-24 * sum|x*w|, but with random signs the partial
/// sums stay far below sum|x*w| and the observed error is below 1e-6 of it,
/// so 1e-5 separates rounding from a wrong weight (one wrong 4-bit code or
/// absmax changes the result by ~1/K of sum|x*w|, far more for K <= 4096).
inline void expectClose(const std::vector<float> &out,
                        const std::vector<double> &ref,
                        const std::vector<double> &mag,
                        const std::string &what) {
  ASSERT_EQ(out.size(), ref.size());
  int failures = 0;
  for (size_t i = 0; i < out.size() && failures < 5; ++i) {
    double bound = 1e-5 * mag[i] + 1e-6;
    if (!(std::fabs(double(out[i]) - ref[i]) <= bound)) {
      ADD_FAILURE() << what << ": element " << i << " is " << out[i]
                    << ", expected " << ref[i] << " (bound " << bound << ")";
      ++failures;
    }
  }
}

/// out = x * w^T in double, with mag = sum |x*w|; w [N, K] as f32 values.
inline void reference(const std::vector<float> &x, const std::vector<float> &w,
                      int64_t M, int64_t N, int64_t K, std::vector<double> &ref,
                      std::vector<double> &mag) {
  ref.assign(static_cast<size_t>(M * N), 0.0);
  mag.assign(static_cast<size_t>(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0, a = 0;
      for (int64_t k = 0; k < K; ++k) {
        double t = double(x[m * K + k]) * double(w[n * K + k]);
        s += t;
        a += std::fabs(t);
      }
      ref[m * N + n] = s;
      mag[m * N + n] = a;
    }
}

inline float roundTo(float v, int compute) {
  if (compute == BNBRT_UK_F16)
    return halfToFloat(floatToHalf(v));
  if (compute == BNBRT_UK_BF16)
    return bfloat16ToFloat(floatToBFloat16(v));
  return v;
}

inline DType computeDType(int compute) {
  return compute == BNBRT_UK_F16    ? DType::F16
         : compute == BNBRT_UK_BF16 ? DType::BF16
                                    : DType::F32;
}

/// Runs `call` (which writes `out`) on every ISA and thread count, checks
/// each result with `check` and that the thread count never changes it.
template <typename Out, typename Call, typename Check>
void acrossIsasAndThreads(std::vector<Out> &out, Call call, Check check) {
  for (const std::string &isa : supportedIsas()) {
    ASSERT_EQ(bnbrt_ukernel_force_isa(isa.c_str()), 0);
    std::vector<Out> first;
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE("isa " + isa + ", " + std::to_string(threads) + " threads");
      bnbrt_set_num_threads(threads);
      std::fill(out.begin(), out.end(), Out(-7));
      call();
      ASSERT_EQ(bnbrt_last_error(), nullptr) << bnbrt_last_error();
      if (threads == 1) {
        check(isa);
        first = out;
      } else {
        EXPECT_EQ(
            std::memcmp(first.data(), out.data(), out.size() * sizeof(Out)), 0)
            << "result depends on the thread count";
      }
    }
  }
  bnbrt_ukernel_force_isa(nullptr);
  bnbrt_set_num_threads(0);
}

class UkernelTest : public ::testing::Test {
protected:
  void SetUp() override { bnbrt_clear_error(); }
  void TearDown() override {
    bnbrt_clear_error();
    bnbrt_ukernel_force_isa(nullptr);
    bnbrt_set_num_threads(0);
  }
};

/// A 4-bit linear's weight state: the packed codes and either the absmax or
/// double quantization's codes, nested absmax, 8-bit map and offset.
struct Weights4bit {
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  std::vector<uint8_t> codes;
  std::vector<float> nested;
  std::vector<float> code8;
  std::vector<float> codebook;
  float offset = 0.0f;
  int64_t blocksize = 64;

  /// out [M, N] = x [M, K] times the weight, through
  /// bnbrt_uk_linear_4bit_dq (nested blocks of kNestedBlocksize) when `dq`,
  /// else bnbrt_uk_linear_4bit.
  void run(std::vector<float> &out, std::vector<float> &x, int64_t M, int64_t N,
           int64_t K, bool dq, int compute) {
    auto dOut = desc2(out, M, N);
    auto dX = desc2(x, M, K);
    auto dPacked = desc1(packed);
    auto dCodebook = desc1(codebook);
    if (dq) {
      auto dCodes = desc1(codes);
      auto dNested = desc1(nested);
      auto dCode8 = desc1(code8);
      _mlir_ciface_bnbrt_uk_linear_4bit_dq(
          &dOut, &dX, &dPacked, &dCodes, &dNested, &dCode8, &dCodebook,
          blocksize, kNestedBlocksize, offset, compute);
    } else {
      auto dAbsmax = desc1(absmax);
      _mlir_ciface_bnbrt_uk_linear_4bit(&dOut, &dX, &dPacked, &dAbsmax,
                                        &dCodebook, blocksize, compute);
    }
  }
};

struct Shape4 {
  int64_t M, N, K, blocksize;
};

/// A random 4-bit linear of shape `s` (weights, x rounded to the compute
/// dtype) and its double-precision reference through lib/Quant.
struct Case4bit {
  Weights4bit wq;
  std::vector<float> x;
  std::vector<double> ref, mag;
};

inline Case4bit make4bitCase(const Shape4 &s, bnb::quant::QuantType qt,
                             int compute, bool dq, std::mt19937 &rng) {
  using namespace bnb::quant;
  Case4bit result;
  Weights4bit &wq = result.wq;
  std::vector<float> &x = result.x;
  const int64_t M = s.M, N = s.N, K = s.K, bs = s.blocksize;
  const size_t n = static_cast<size_t>(N * K);
  const size_t nblocks = numBlocks(n, bs);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  wq.blocksize = bs;
  wq.packed.resize(packedSize(n));
  for (uint8_t &b : wq.packed)
    b = static_cast<uint8_t>(byte(rng));
  x.resize(static_cast<size_t>(M * K));
  for (float &v : x)
    v = roundTo(unit(rng), compute); // callers round x to the compute dtype
  wq.codebook.assign(codeTable(qt), codeTable(qt) + 16);

  // absmax: plain, or double-quantized with random codes (nested blocks of
  // 256, lib/Quant's reconstructAbsmax being the reference).
  wq.absmax.resize(nblocks);
  wq.codes.resize(nblocks);
  wq.nested.resize(numBlocks(nblocks, kNestedBlocksize));
  wq.code8.assign(kDynamicMap, kDynamicMap + 256);
  wq.offset = 0.0371f;
  if (dq) {
    for (uint8_t &c : wq.codes)
      c = static_cast<uint8_t>(byte(rng));
    for (float &v : wq.nested)
      v = 0.05f + 0.1f * std::fabs(unit(rng));
    reconstructAbsmax(wq.codes.data(), wq.nested.data(), wq.offset, nblocks,
                      wq.absmax.data());
  } else {
    for (float &v : wq.absmax)
      v = 0.01f + std::fabs(unit(rng));
  }

  // Reference weights: lib/Quant dequantizes into the compute dtype.
  std::vector<float> w(n);
  DType dt = computeDType(compute);
  std::vector<uint8_t> wt(n * dtypeSize(dt));
  dequantize4bit(wq.packed.data(), wq.absmax.data(), n, qt, bs, dt, wt.data());
  for (size_t i = 0; i < n; ++i)
    w[i] = loadAsFloat(wt.data(), dt, i);
  reference(x, w, M, N, K, result.ref, result.mag);
  return result;
}

} // namespace bnb::uktest

#endif // BNB_TEST_UNIT_RUNTIME_UKERNELTESTSUPPORT_H
