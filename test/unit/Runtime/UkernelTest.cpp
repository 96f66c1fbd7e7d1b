//===- UkernelTest.cpp - CPU microkernels of libbnb_runtime ---------------===//
//
// Every kernel on every instruction set the machine supports (switched with
// the internal bnbrt_ukernel_force_isa hook) and on 1, 2 and 3 threads,
// against double-precision references built with lib/Quant's independent
// dequantization. Descriptors are built by hand, as compiled code passes
// them.
//
//===----------------------------------------------------------------------===//

#include "UkernelTestSupport.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace bnb;
using namespace bnb::quant;
using namespace bnb::uktest;

namespace {

//===----------------------------------------------------------------------===//
// 4-bit
//===----------------------------------------------------------------------===//

void check4bit(const Shape4 &s, QuantType qt, int compute, bool dq,
               std::mt19937 &rng) {
  const int64_t M = s.M, N = s.N, K = s.K, bs = s.blocksize;
  Case4bit c = make4bitCase(s, qt, compute, dq, rng);
  Weights4bit &wq = c.wq;
  std::vector<float> &x = c.x;
  const std::vector<double> &ref = c.ref, &mag = c.mag;
  std::vector<float> out(static_cast<size_t>(M * N));
  std::string what = "4bit m=" + std::to_string(M) + " n=" +
                     std::to_string(N) + " k=" + std::to_string(K) + " bs=" +
                     std::to_string(bs) + " compute=" +
                     std::to_string(compute) + (dq ? " dq" : "") +
                     (qt == QuantType::NF4 ? " nf4" : " fp4");
  SCOPED_TRACE(what);
  acrossIsasAndThreads(
      out, [&] { wq.run(out, x, M, N, K, dq, compute); },
      [&](const std::string &isa) { expectClose(out, ref, mag, what); });
}

TEST_F(UkernelTest, Linear4bitMatchesLibQuant) {
  const Shape4 shapes[] = {
      {1, 67, 64, 64},     {2, 31, 192, 64},   {1, 131, 4096, 256},
      {3, 70, 4096, 64},   {5, 65, 4096, 128}, {33, 40, 4096, 256},
      {33, 97, 192, 64},   {130, 67, 192, 64}, {4, 129, 4096, 128},
      // the GEMV's K-chunks (kGemvXBytesInL1): 2 chunks of 42 and 22
      // blocks at M = 3, six with a partial last one at M = 4
      {4, 33, 11008, 64},
      {1, 200, 1024, 32},  // generic path: blocks straddle rows
      {5, 9, 96, 64},      {2, 71, 96, 64},
      // odd N*K (a padded last byte), generic path
      {2, 5, 33, 64},      {40, 7, 33, 64},
      // the AMX GEMM (M >= 16 with compute bf16): row and column tails,
      // several 128-column panels, blocks of one 32-element k-block
      {16, 70, 192, 64},   {17, 300, 128, 32}, {512, 70, 256, 64},
  };
  std::mt19937 rng(42);
  for (const Shape4 &s : shapes)
    for (QuantType qt : {QuantType::NF4, QuantType::FP4})
      for (int compute : {BNBRT_UK_F32, BNBRT_UK_F16, BNBRT_UK_BF16})
        for (bool dq : {false, true})
          check4bit(s, qt, compute, dq, rng);
}

/// The AVX512-BF16 GEMV's counters (TestHooks.h).
struct Bf16Stats {
  uint64_t calls = 0, fallbackBlocks = 0;
  static Bf16Stats now() {
    Bf16Stats s;
    bnbrt_ukernel_bf16_gemv_stats(&s.calls, &s.fallbackBlocks);
    return s;
  }
};

/// Whether bf16-compute GEMVs at the avx512 level take the AVX512-BF16
/// kernel on this machine.
bool hasBf16Gemv() {
  return bnbrt_ukernel_force_isa("avx512") == 0 &&
         __builtin_cpu_supports("avx512bf16") &&
         bnbrt_ukernel_force_isa(nullptr) == 0;
}

// The bf16 GEMV (KernelsAvx512Bf16.cpp): M = 1..4, blocks of one to eight
// 32-byte groups with and without a 16-byte tail, odd and even block counts
// per row (two accumulator sets), against lib/Quant.
TEST_F(UkernelTest, Bf16GemvMatchesLibQuant) {
  const bool bf16 = hasBf16Gemv();
  if (!bf16)
    std::printf("no avx512_bf16: the bf16 GEMV is not tested here\n");
  std::mt19937 rng(11);
  for (int64_t bs : {32, 64, 96, 128, 160, 256})
    for (int64_t M = 1; M <= 4; ++M)
      for (int64_t blocks : {1, 3, 8}) {
        Shape4 s{M, M == 2 ? 130 : 67, bs * blocks, bs};
        for (QuantType qt : {QuantType::NF4, QuantType::FP4})
          for (bool dq : {false, true}) {
            Bf16Stats before = Bf16Stats::now();
            check4bit(s, qt, BNBRT_UK_BF16, dq, rng);
            if (bf16) {
              EXPECT_GT(Bf16Stats::now().calls, before.calls)
                  << "the bf16 GEMV did not run";
            }
          }
      }
}

// Rows of many blocks: the double-quantized absmax is rebuilt 16 blocks at a
// time, including the groups where one nested block (256 blocks) ends inside
// the group, and the tail; every output must match lib/Quant's, for one,
// three and four rows of x.
TEST_F(UkernelTest, Bf16GemvLongRowsMatchLibQuant) {
  std::mt19937 rng(13);
  for (int64_t blocks : {16, 40, 173})
    for (int64_t M : {1, 3, 4}) {
      Shape4 s{M, 37, 64 * blocks, 64};
      for (bool dq : {false, true})
        check4bit(s, QuantType::NF4, BNBRT_UK_BF16, dq, rng);
    }
}

// Double quantization changes where a block's absmax comes from, nothing
// else: with the absmax reconstructed by lib/Quant passed as a plain array,
// every output is the same bit for bit, on every instruction set. Rows of
// 173 blocks cross nested-block boundaries at even and odd blocks (the bf16
// GEMV splits such rows and must keep each block in its accumulator set).
TEST_F(UkernelTest, DoubleQuantGivesTheSameBits) {
  const int64_t N = 37, K = 64 * 173;
  const int64_t nblocks = N * K / 64;
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  Weights4bit wq;
  wq.packed.resize(static_cast<size_t>(N * K / 2));
  wq.codes.resize(static_cast<size_t>(nblocks));
  for (uint8_t &b : wq.packed)
    b = static_cast<uint8_t>(byte(rng));
  for (uint8_t &c : wq.codes)
    c = static_cast<uint8_t>(byte(rng));
  wq.nested.resize(numBlocks(nblocks, kNestedBlocksize));
  for (float &v : wq.nested)
    v = 0.05f + 0.1f * std::fabs(unit(rng));
  wq.code8.assign(kDynamicMap, kDynamicMap + 256);
  wq.offset = 0.0371f;
  wq.absmax.resize(static_cast<size_t>(nblocks));
  reconstructAbsmax(wq.codes.data(), wq.nested.data(), wq.offset, nblocks,
                    wq.absmax.data());
  wq.codebook.assign(codeTable(QuantType::NF4),
                     codeTable(QuantType::NF4) + 16);
  for (int64_t M : {1, 2, 3, 4, 6})
    for (int compute : {BNBRT_UK_F32, BNBRT_UK_BF16}) {
      std::vector<float> x(static_cast<size_t>(M * K));
      for (float &v : x)
        v = roundTo(unit(rng), compute);
      std::vector<float> plain(M * N), dq(M * N);
      for (const std::string &isa : supportedIsas()) {
        SCOPED_TRACE("isa " + isa + " m=" + std::to_string(M) +
                     " compute=" + std::to_string(compute));
        ASSERT_EQ(bnbrt_ukernel_force_isa(isa.c_str()), 0);
        std::fill(plain.begin(), plain.end(), -7.0f);
        std::fill(dq.begin(), dq.end(), 7.0f);
        wq.run(plain, x, M, N, K, false, compute);
        wq.run(dq, x, M, N, K, true, compute);
        ASSERT_EQ(bnbrt_last_error(), nullptr) << bnbrt_last_error();
        for (int64_t i = 0; i < M * N; ++i)
          ASSERT_EQ(std::memcmp(&plain[i], &dq[i], 4), 0)
              << "out " << i << ": " << dq[i] << ", plain " << plain[i];
      }
      bnbrt_ukernel_force_isa(nullptr);
    }
}

/// The outputs of a 4-bit linear with bf16 compute for all K one-hot rows of
/// x, M at a time: w[n][k] into result[k * N + n].
void oneHotOutputs(int64_t M, int64_t N, int64_t K,
                   const std::function<void(std::vector<float> &,
                                            std::vector<float> &)> &call,
                   std::vector<float> &result) {
  std::vector<float> x(static_cast<size_t>(M * K)), out(M * N);
  for (int64_t k0 = 0; k0 < K; k0 += M) {
    std::fill(x.begin(), x.end(), 0.0f);
    for (int64_t m = 0; m < M; ++m)
      x[m * K + k0 + m] = 1.0f;
    call(x, out);
    ASSERT_EQ(bnbrt_last_error(), nullptr) << bnbrt_last_error();
    std::memcpy(result.data() + k0 * N, out.data(), sizeof(float) * M * N);
  }
}

// Blocks whose table holds bf16 denormals take the exact fallback
// (vcvtneps2bf16 and vdpbf16ps flush them): with one-hot rows of x every
// output is one dequantized weight, which must equal the generic kernel's
// bit for bit on every instruction set, next to blocks on the fast path.
// Under double quantization the fast path looks absmaxes up in a table per
// nested block; here the first and third nested blocks (of 256 blocks, rows
// of three blocks across their boundaries) have tables with denormal
// entries, the second has none.
TEST_F(UkernelTest, Bf16GemvDenormalTablesAreExact) {
  const int64_t bs = 64, M = 4, K = 192;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  for (bool dq : {false, true}) {
    const int64_t N = dq ? 200 : 70;
    const int64_t nblocks = N * K / bs;
    Weights4bit wq;
    wq.packed.resize(static_cast<size_t>(N * K / 2));
    for (uint8_t &b : wq.packed)
      b = static_cast<uint8_t>(byte(rng));
    // Around the threshold of NF4 (smallest nonzero |code| 0.0796, so
    // |absmax| < ~2^-122.35 gives denormal entries) and FP4 (1/192).
    const float absmaxes[] = {0x1p-130f, 0x1p-125f, -0x1p-124f, 0x1.6p-123f,
                              0x1p-123f, 0x1p-122f, 0x1p-118f,  1e-40f,
                              0.0f,      0.75f,     -3.0f,      0x1p-119f};
    wq.absmax.resize(static_cast<size_t>(nblocks));
    wq.codes.resize(static_cast<size_t>(nblocks));
    wq.nested = {0x1p-118f, 0.5f, 0x1p-119f};
    wq.code8.assign(kDynamicMap, kDynamicMap + 256);
    if (dq) {
      for (uint8_t &c : wq.codes)
        c = static_cast<uint8_t>(byte(rng));
      reconstructAbsmax(wq.codes.data(), wq.nested.data(), 0.0f, nblocks,
                        wq.absmax.data());
    } else {
      for (int64_t b = 0; b < nblocks; ++b)
        wq.absmax[b] = absmaxes[(b * 7) % 12];
    }
    for (QuantType qt : {QuantType::NF4, QuantType::FP4}) {
      wq.codebook.assign(codeTable(qt), codeTable(qt) + 16);
      std::vector<float> expected(static_cast<size_t>(K * N)),
          got(static_cast<size_t>(K * N));
      auto call = [&](std::vector<float> &x, std::vector<float> &out) {
        wq.run(out, x, M, N, K, dq, BNBRT_UK_BF16);
      };
      const std::string what = std::string(dq ? "dq, " : "") +
                               (qt == QuantType::NF4 ? "nf4" : "fp4");
      ASSERT_EQ(bnbrt_ukernel_force_isa("generic"), 0);
      oneHotOutputs(M, N, K, call, expected);
      // The generic kernel is the reference: check it against lib/Quant.
      std::vector<uint16_t> wt(static_cast<size_t>(N * K));
      dequantize4bit(wq.packed.data(), wq.absmax.data(), N * K, qt, bs,
                     DType::BF16, wt.data());
      int denormals = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
          float w = bfloat16ToFloat(wt[n * K + k]);
          denormals += w != 0.0f && std::fabs(w) < 0x1p-126f;
          // == : a sum from +0 turns a -0 weight into +0.
          ASSERT_EQ(w, expected[k * N + n])
              << what << " generic n=" << n << " k=" << k;
        }
      EXPECT_GT(denormals, 100) << what;
      for (const std::string &isa : supportedIsas()) {
        ASSERT_EQ(bnbrt_ukernel_force_isa(isa.c_str()), 0);
        Bf16Stats before = Bf16Stats::now();
        for (int threads : {1, 3}) {
          SCOPED_TRACE("isa " + isa + ", " + std::to_string(threads) +
                       " threads, " + what);
          bnbrt_set_num_threads(threads);
          std::fill(got.begin(), got.end(), -7.0f);
          oneHotOutputs(M, N, K, call, got);
          for (int64_t i = 0; i < K * N; ++i)
            ASSERT_EQ(std::memcmp(&got[i], &expected[i], 4), 0)
                << "k=" << i / N << " n=" << i % N << ": " << got[i]
                << ", expected " << expected[i];
        }
        if (isa != "avx2" && isa != "generic" && hasBf16Gemv()) {
          ASSERT_EQ(bnbrt_ukernel_force_isa(isa.c_str()), 0);
          Bf16Stats after = Bf16Stats::now();
          EXPECT_GT(after.calls, before.calls);
          EXPECT_GT(after.fallbackBlocks, before.fallbackBlocks);
        }
      }
      bnbrt_ukernel_force_isa(nullptr);
      bnbrt_set_num_threads(0);
    }
  }
}

/// Operands of a bf16-weight matmul: x [M, K] of bf16 values but for
/// element `notBf16` (0.1, which bf16 cannot hold), weights [N, K] as bf16
/// and as f32, all uniform in [-1, 1) from `seed`.
struct Bf16Operands {
  std::vector<float> x, w;
  std::vector<uint16_t> w16;
  Bf16Operands(int64_t M, int64_t N, int64_t K, int64_t notBf16,
               unsigned seed)
      : x(static_cast<size_t>(M * K)), w(static_cast<size_t>(N * K)),
        w16(w.size()) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    for (float &v : x)
      v = roundTo(unit(rng), BNBRT_UK_BF16);
    x[notBf16] = 0.1f;
    for (size_t i = 0; i < w.size(); ++i) {
      w16[i] = floatToBFloat16(unit(rng));
      w[i] = bfloat16ToFloat(w16[i]);
    }
  }
};

// The AVX512-BF16 GEMM (KernelsAvx512Bf16Gemm.cpp, six or more rows of x
// with compute bf16 at the avx512 level): whole and partial 6-row register
// blocks, panels of 64 columns with a partial last one (whole, partial and
// empty 16-column quarters), blocks of one to eight 16-byte groups, K over
// several 1024-pair chunks (a block across a chunk boundary), against
// lib/Quant on every instruction set.
TEST_F(UkernelTest, Bf16GemmMatchesLibQuant) {
  const bool bf16 = hasBf16Gemv();
  if (!bf16)
    std::printf("no avx512_bf16: the bf16 GEMM is not tested here\n");
  const Shape4 shapes[] = {{6, 70, 256, 32},    {16, 33, 192, 64},
                           {25, 97, 384, 128},  {40, 16, 512, 256},
                           {29, 45, 480, 160},  {130, 64, 64, 64},
                           {7, 130, 4480, 160}, {12, 20, 2048, 64}};
  std::mt19937 rng(17);
  for (const Shape4 &s : shapes)
    for (QuantType qt : {QuantType::NF4, QuantType::FP4})
      for (bool dq : {false, true}) {
        uint64_t before = bnbrt_ukernel_bf16_gemm_calls();
        check4bit(s, qt, BNBRT_UK_BF16, dq, rng);
        if (bf16) {
          EXPECT_GT(bnbrt_ukernel_bf16_gemm_calls(), before)
              << "the bf16 GEMM did not run";
        }
      }
}

// An x that is not all bf16 values keeps the bf16 GEMM out (its products
// would not be exact): the avx512 FMA GEMM runs, within the usual bound.
TEST_F(UkernelTest, Bf16GemmDeclinesXThatIsNotBf16) {
  if (!hasBf16Gemv())
    GTEST_SKIP() << "no avx512_bf16 on this machine";
  const int64_t M = 20, N = 40, K = 64;
  // Not a bf16 value in the last element packed.
  Bf16Operands ops(M, N, K, M * K - 1, 3);
  std::vector<float> &x = ops.x, &w = ops.w;
  std::vector<uint16_t> &w16 = ops.w16;
  std::vector<double> ref, mag;
  reference(x, w, M, N, K, ref, mag);
  std::vector<float> out(static_cast<size_t>(M * N), -7.0f);
  auto dOut = desc2(out, M, N);
  auto dX = desc2(x, M, K);
  auto dW = desc2(w16, N, K);
  ASSERT_EQ(bnbrt_ukernel_force_isa("avx512"), 0);
  uint64_t before = bnbrt_ukernel_bf16_gemm_calls();
  _mlir_ciface_bnbrt_uk_matmul_bf16(&dOut, &dX, &dW, 1);
  ASSERT_EQ(bnbrt_last_error(), nullptr) << bnbrt_last_error();
  EXPECT_EQ(bnbrt_ukernel_bf16_gemm_calls(), before);
  expectClose(out, ref, mag, "matmul_bf16, x not bf16");
  // The same x rounded takes the bf16 GEMM.
  x[M * K - 1] = roundTo(0.1f, BNBRT_UK_BF16);
  reference(x, w, M, N, K, ref, mag);
  _mlir_ciface_bnbrt_uk_matmul_bf16(&dOut, &dX, &dW, 1);
  EXPECT_GT(bnbrt_ukernel_bf16_gemm_calls(), before);
  expectClose(out, ref, mag, "matmul_bf16, x bf16");
}

//===----------------------------------------------------------------------===//
// Float matmul
//===----------------------------------------------------------------------===//

TEST_F(UkernelTest, MatmulMatchesDouble) {
  struct Shape {
    int64_t M, N, K;
  };
  const Shape shapes[] = {{1, 67, 100},  {2, 33, 4096}, {3, 130, 257},
                          {4, 64, 64},   {5, 65, 64},   {33, 97, 300},
                          {130, 70, 128}, {1, 300, 1000},
                          // batch 1, eight rows at a time (K > 4096): row
                          // and k tails
                          {1, 75, 4100},
                          // AMX (bf16 weights, M >= 16): k, row and
                          // column tails
                          {17, 45, 100}, {512, 70, 65}, {33, 300, 96}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (const Shape &s : shapes)
    for (int wdtype : {BNBRT_UK_F32, BNBRT_UK_F16, BNBRT_UK_BF16})
      for (bool transposed : {true, false}) {
        const int64_t M = s.M, N = s.N, K = s.K;
        std::vector<float> x(static_cast<size_t>(M * K));
        // With bf16 weights x holds bf16 values, so that the amx level
        // takes the AMX kernel (MatmulBf16FallsBack covers other x).
        for (float &v : x)
          v = wdtype == BNBRT_UK_BF16 ? roundTo(unit(rng), BNBRT_UK_BF16)
                                      : unit(rng);
        // Weight values as f32 in [N, K] order, and stored in `wdtype` in
        // [N, K] or [K, N] order.
        std::vector<float> w(static_cast<size_t>(N * K));
        std::vector<float> w32(w.size());
        std::vector<uint16_t> w16(w.size());
        for (int64_t nn = 0; nn < N; ++nn)
          for (int64_t k = 0; k < K; ++k) {
            float v = unit(rng);
            size_t at = static_cast<size_t>(transposed ? nn * K + k
                                                       : k * N + nn);
            if (wdtype == BNBRT_UK_F16) {
              w16[at] = floatToHalf(v);
              v = halfToFloat(w16[at]);
            } else if (wdtype == BNBRT_UK_BF16) {
              w16[at] = floatToBFloat16(v);
              v = bfloat16ToFloat(w16[at]);
            }
            w32[at] = v;
            w[nn * K + k] = v;
          }
        std::vector<double> ref, mag;
        reference(x, w, M, N, K, ref, mag);
        std::vector<float> out(static_cast<size_t>(M * N));
        auto dOut = desc2(out, M, N);
        auto dX = desc2(x, M, K);
        int64_t rows = transposed ? N : K, cols = transposed ? K : N;
        auto dW32 = desc2(w32, rows, cols);
        auto dW16 = desc2(w16, rows, cols);
        std::string what = "matmul m=" + std::to_string(M) +
                           " n=" + std::to_string(N) +
                           " k=" + std::to_string(K) +
                           " dtype=" + std::to_string(wdtype) +
                           (transposed ? " transposed" : "");
        SCOPED_TRACE(what);
        acrossIsasAndThreads(
            out,
            [&] {
              if (wdtype == BNBRT_UK_F32)
                _mlir_ciface_bnbrt_uk_matmul_f32(&dOut, &dX, &dW32,
                                                 transposed);
              else if (wdtype == BNBRT_UK_F16)
                _mlir_ciface_bnbrt_uk_matmul_f16(&dOut, &dX, &dW16,
                                                 transposed);
              else
                _mlir_ciface_bnbrt_uk_matmul_bf16(&dOut, &dX, &dW16,
                                                  transposed);
            },
            [&](const std::string &) { expectClose(out, ref, mag, what); });
      }
}

/// At the amx level, a bf16 matmul whose x is not all bf16 values, and a
/// bf16-compute 4-bit linear whose caller did not round x, take the avx512
/// FMA kernels: the results equal theirs byte for byte.
TEST_F(UkernelTest, MatmulBf16FallsBackWhenXIsNotBf16) {
  if (bnbrt_ukernel_force_isa("amx") != 0)
    GTEST_SKIP() << "no AMX on this machine";
  const int64_t M = 33, N = 97, K = 300;
  Bf16Operands ops(M, N, K, M * K / 2, 11);
  std::vector<float> &x = ops.x, &w = ops.w;
  std::vector<uint16_t> &w16 = ops.w16;
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<double> ref, mag;
  reference(x, w, M, N, K, ref, mag);
  std::vector<float> out(static_cast<size_t>(M * N)), fma(out.size());
  auto dOut = desc2(out, M, N);
  auto dX = desc2(x, M, K);
  auto dW = desc2(w16, N, K);
  ASSERT_EQ(bnbrt_ukernel_force_isa("avx512"), 0);
  _mlir_ciface_bnbrt_uk_matmul_bf16(&dOut, &dX, &dW, 1);
  fma = out;
  ASSERT_EQ(bnbrt_ukernel_force_isa("amx"), 0);
  std::fill(out.begin(), out.end(), -7.0f);
  _mlir_ciface_bnbrt_uk_matmul_bf16(&dOut, &dX, &dW, 1);
  ASSERT_EQ(bnbrt_last_error(), nullptr) << bnbrt_last_error();
  EXPECT_EQ(std::memcmp(out.data(), fma.data(), out.size() * sizeof(float)),
            0);
  expectClose(out, ref, mag, "matmul_bf16 fallback");

  // 4-bit, compute bf16, x not rounded by the caller.
  const int64_t bs = 64;
  std::vector<float> codebook(kNF4Table, kNF4Table + 16);
  std::vector<float> x4(static_cast<size_t>(M * 320));
  for (float &v : x4)
    v = unit(rng);
  auto dX4 = desc2(x4, M, 320);
  std::vector<uint8_t> packed4(static_cast<size_t>(N * 320 / 2), 0x5a);
  std::vector<float> absmax4(static_cast<size_t>(N * 320 / bs), 0.25f);
  auto dPacked = desc1(packed4);
  auto dAbsmax = desc1(absmax4);
  auto dCodebook = desc1(codebook);
  ASSERT_EQ(bnbrt_ukernel_force_isa("avx512"), 0);
  _mlir_ciface_bnbrt_uk_linear_4bit(&dOut, &dX4, &dPacked, &dAbsmax,
                                    &dCodebook, bs, BNBRT_UK_BF16);
  fma = out;
  ASSERT_EQ(bnbrt_ukernel_force_isa("amx"), 0);
  std::fill(out.begin(), out.end(), -7.0f);
  _mlir_ciface_bnbrt_uk_linear_4bit(&dOut, &dX4, &dPacked, &dAbsmax,
                                    &dCodebook, bs, BNBRT_UK_BF16);
  ASSERT_EQ(bnbrt_last_error(), nullptr) << bnbrt_last_error();
  EXPECT_EQ(std::memcmp(out.data(), fma.data(), out.size() * sizeof(float)),
            0);
}

//===----------------------------------------------------------------------===//
// int8
//===----------------------------------------------------------------------===//

TEST_F(UkernelTest, Int8IsExact) {
  struct Shape {
    int64_t M, N, K;
  };
  const Shape shapes[] = {{1, 67, 11008}, {2, 33, 4097}, {3, 65, 31},
                          {4, 64, 64},    {5, 70, 1000}, {33, 65, 333},
                          // batch 1, eight rows at a time: row and k tails
                          {1, 300, 8195},
                          {130, 40, 11008}, {9, 3, 1},
                          // AMX (M >= 16): k, row and column tails
                          {16, 130, 64}, {17, 70, 1000}, {512, 33, 4097},
                          {40, 300, 129}};
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> i8(-128, 127);
  for (const Shape &s : shapes) {
    const int64_t M = s.M, N = s.N, K = s.K;
    std::vector<int8_t> a(static_cast<size_t>(M * K)),
        b(static_cast<size_t>(N * K));
    for (int8_t &v : a)
      v = static_cast<int8_t>(i8(rng));
    for (int8_t &v : b)
      v = static_cast<int8_t>(i8(rng));
    // The extremes, where a shortcut through int16 products would overflow.
    a[0] = -128;
    b[0] = -128;
    if (K > 1) {
      a[1] = 127;
      b[1] = -128;
    }
    std::vector<int64_t> ref(static_cast<size_t>(M * N));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        int64_t sum = 0;
        for (int64_t k = 0; k < K; ++k)
          sum += int64_t(a[m * K + k]) * int64_t(b[n * K + k]);
        ref[m * N + n] = sum;
      }
    std::vector<int32_t> out(static_cast<size_t>(M * N));
    auto dOut = desc2(out, M, N);
    auto dA = desc2(a, M, K);
    auto dB = desc2(b, N, K);
    SCOPED_TRACE("int8 m=" + std::to_string(M) + " n=" + std::to_string(N) +
                 " k=" + std::to_string(K));
    acrossIsasAndThreads(
        out, [&] { _mlir_ciface_bnbrt_uk_int8_matmul(&dOut, &dA, &dB); },
        [&](const std::string &) {
          for (size_t i = 0; i < out.size(); ++i)
            ASSERT_EQ(int64_t(out[i]), ref[i]) << "element " << i;
        });
  }
}

// Four rows or more at the avx512 level of a CPU with AVX512-VNNI take the
// vpdpbusd GEMM (KernelsAvx512Vnni.cpp), which Int8IsExact checks with K
// over several 1024-quad chunks (11008, 4097), K not a multiple of 4 and
// partial panels; here the extremes: every a and b -128 or 127, where
// a + 128 reaches 0 and 255.
TEST_F(UkernelTest, VnniGemmIsExactAtTheExtremes) {
  const bool vnni = __builtin_cpu_supports("avx512vnni") &&
                    bnbrt_ukernel_force_isa("avx512") == 0;
  bnbrt_ukernel_force_isa(nullptr);
  if (!vnni)
    GTEST_SKIP() << "no avx512_vnni on this machine";
  const int64_t M = 19, N = 70, K = 4101;
  std::vector<int8_t> a(static_cast<size_t>(M * K)),
      b(static_cast<size_t>(N * K));
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = (i * 7 % 3) ? -128 : 127;
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = (i * 5 % 4) ? -128 : 127;
  std::vector<int32_t> out(static_cast<size_t>(M * N), -7);
  auto dOut = desc2(out, M, N);
  auto dA = desc2(a, M, K);
  auto dB = desc2(b, N, K);
  ASSERT_EQ(bnbrt_ukernel_force_isa("avx512"), 0);
  uint64_t before = bnbrt_ukernel_vnni_gemm_calls();
  _mlir_ciface_bnbrt_uk_int8_matmul(&dOut, &dA, &dB);
  ASSERT_EQ(bnbrt_last_error(), nullptr) << bnbrt_last_error();
  EXPECT_GT(bnbrt_ukernel_vnni_gemm_calls(), before);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int64_t sum = 0;
      for (int64_t k = 0; k < K; ++k)
        sum += int64_t(a[m * K + k]) * int64_t(b[n * K + k]);
      ASSERT_EQ(int64_t(out[m * N + n]), sum) << "m=" << m << " n=" << n;
    }
}

//===----------------------------------------------------------------------===//
// Errors, threads, ISA
//===----------------------------------------------------------------------===//

TEST_F(UkernelTest, SizeMismatchRecordsAnErrorAndWritesNothing) {
  const int64_t M = 2, N = 3, K = 64;
  std::vector<float> out(M * N, 5.0f), x(M * K, 1.0f), absmax(3, 1.0f);
  std::vector<float> codebook(kNF4Table, kNF4Table + 16);
  std::vector<uint8_t> packed(N * K / 2 - 1, 0x77); // one byte short
  auto dOut = desc2(out, M, N);
  auto dX = desc2(x, M, K);
  auto dPacked = desc1(packed);
  auto dAbsmax = desc1(absmax);
  auto dCodebook = desc1(codebook);
  _mlir_ciface_bnbrt_uk_linear_4bit(&dOut, &dX, &dPacked, &dAbsmax,
                                    &dCodebook, 64, BNBRT_UK_F32);
  ASSERT_NE(bnbrt_last_error(), nullptr);
  EXPECT_NE(std::string(bnbrt_last_error()).find("bnbrt_uk_linear_4bit"),
            std::string::npos)
      << bnbrt_last_error();
  for (float v : out)
    EXPECT_EQ(v, 5.0f);
  bnbrt_clear_error();
  EXPECT_EQ(bnbrt_last_error(), nullptr);

  std::vector<float> w(N * (K + 1), 1.0f);
  auto dW = desc2(w, N, K + 1);
  _mlir_ciface_bnbrt_uk_matmul_f32(&dOut, &dX, &dW, 1);
  ASSERT_NE(bnbrt_last_error(), nullptr);
  EXPECT_NE(std::string(bnbrt_last_error()).find("bnbrt_uk_matmul_f32"),
            std::string::npos)
      << bnbrt_last_error();
  for (float v : out)
    EXPECT_EQ(v, 5.0f);
  bnbrt_clear_error();

  std::vector<int32_t> iout(M * N, 5);
  std::vector<int8_t> a(M * K, 1), b(N * (K - 1), 1);
  auto dIout = desc2(iout, M, N);
  auto dA = desc2(a, M, K);
  auto dB = desc2(b, N, K - 1);
  _mlir_ciface_bnbrt_uk_int8_matmul(&dIout, &dA, &dB);
  ASSERT_NE(bnbrt_last_error(), nullptr);
  EXPECT_NE(std::string(bnbrt_last_error()).find("bnbrt_uk_int8_matmul"),
            std::string::npos)
      << bnbrt_last_error();
  for (int32_t v : iout)
    EXPECT_EQ(v, 5);
  bnbrt_clear_error();

  // Double quant: too few nested values for the codes.
  std::vector<uint8_t> codes(300, 0);
  std::vector<float> nested(1, 1.0f), code8(kDynamicMap, kDynamicMap + 256);
  auto dCodes = desc1(codes);
  auto dNested = desc1(nested);
  auto dCode8 = desc1(code8);
  _mlir_ciface_bnbrt_uk_linear_4bit_dq(&dOut, &dX, &dPacked, &dCodes,
                                       &dNested, &dCode8, &dCodebook, 64, 256,
                                       0.0f, BNBRT_UK_F32);
  ASSERT_NE(bnbrt_last_error(), nullptr);
  EXPECT_NE(std::string(bnbrt_last_error()).find("bnbrt_uk_linear_4bit_dq"),
            std::string::npos)
      << bnbrt_last_error();
  for (float v : out)
    EXPECT_EQ(v, 5.0f);
}

TEST_F(UkernelTest, NumThreads) {
  EXPECT_EQ(bnbrt_set_num_threads(3), 3);
  EXPECT_EQ(bnbrt_get_num_threads(), 3);
  EXPECT_EQ(bnbrt_set_num_threads(1), 1);
  EXPECT_EQ(bnbrt_get_num_threads(), 1);

  const char *saved = std::getenv("BNB_NUM_THREADS");
  std::string savedValue = saved ? saved : "";
  setenv("BNB_NUM_THREADS", "5", 1);
  EXPECT_EQ(bnbrt_set_num_threads(0), 5);
  EXPECT_EQ(bnbrt_get_num_threads(), 5);
  // Invalid values fall back to the CPUs this process may run on.
  unsetenv("BNB_NUM_THREADS");
  int cpus = bnbrt_set_num_threads(0);
  EXPECT_GE(cpus, 1);
  for (const char *bad : {"abc", "0", "-2", "3x", ""}) {
    setenv("BNB_NUM_THREADS", bad, 1);
    EXPECT_EQ(bnbrt_set_num_threads(0), cpus) << "BNB_NUM_THREADS=" << bad;
  }
  if (saved)
    setenv("BNB_NUM_THREADS", savedValue.c_str(), 1);
  else
    unsetenv("BNB_NUM_THREADS");
  bnbrt_set_num_threads(0);
}

TEST_F(UkernelTest, IsaNames) {
  std::string isa = bnbrt_ukernel_isa();
  EXPECT_TRUE(isa == "amx" || isa == "avx512" || isa == "avx2" ||
              isa == "generic")
      << isa;
  std::string all;
  for (const std::string &name : supportedIsas())
    all += " " + name;
  std::printf("instruction sets tested:%s\n", all.c_str());
  EXPECT_EQ(bnbrt_ukernel_force_isa("sse9"), -1);
  EXPECT_EQ(bnbrt_ukernel_force_isa("generic"), 0);
  EXPECT_STREQ(bnbrt_ukernel_isa(), "generic");
  EXPECT_EQ(bnbrt_ukernel_force_isa(nullptr), 0);
  EXPECT_EQ(std::string(bnbrt_ukernel_isa()), isa);
}

} // namespace
