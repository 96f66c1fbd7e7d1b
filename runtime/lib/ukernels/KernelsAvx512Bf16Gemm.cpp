//===- KernelsAvx512Bf16Gemm.cpp - AVX512-BF16 GEMM -----------------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16
// -mfma -mf16c -ffp-contract=off; Dispatch.cpp calls in only at the avx512
// level on a CPU with avx512_bf16, for a bf16-compute GEMM (4-bit weights
// with compute dtype bf16, or bf16 weights [N, K]) of more than
// kGemvMaxRows rows whose x holds bf16 values.
//
// vdpbf16ps multiplies 16 pairs of bf16 and adds both products to 16 f32
// lanes: twice the multiply-adds of an f32 FMA per instruction. x is packed
// once per call as bf16 rows, each dword the k pair (2j, 2j + 1). A panel of
// 32 weight rows is laid out [K/2][32] dwords, dword (j, c) holding weight
// row c's elements 2j, 2j + 1; it is built once per panel and stays in L2
// while an MR x 32 register block runs over every row of x. A 4-bit row
// yields its dwords straight from its bytes: the high nibble (element 2j)
// and the low nibble (element 2j + 1) of byte j index the same per-block
// table, 16 rows at a time, then a 16 x 16 dword transpose.
//
// Numerics (the same as the AMX GEMM's, KernelsAmx.cpp):
//  - a 4-bit weight is exactly bf16(f32(codebook[q] * absmax)) rounded to
//    nearest even (NaN kept NaN); bf16 weights are used as stored; x holds
//    bf16 values (checked by avx512Bf16PackRows). A product of two bf16 is
//    exact in f32.
//  - vdpbf16ps treats bf16 denormal inputs as zero and flushes denormal
//    results to zero, whatever MXCSR says; the order in which it adds its
//    two products is the hardware's.
//  - each output is one fixed vdpbf16ps chain over the k pairs in ascending
//    order, so results never depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "KernelsAvx512Bf16Gemm.h"
#include "Avx512Shared.h"

#include <immintrin.h>

namespace bnb::rt::uk {
namespace {

/// Weight rows (output columns) of one panel: four accumulators per row
/// of x, so that each broadcast x pair feeds four vdpbf16ps.
constexpr int64_t kCols = 64;

/// Rows of x per register block: 4 x 6 accumulators, four panel vectors
/// and a broadcast x pair in 32 registers.
constexpr int kRows = 6;

/// k pairs of one panel chunk: 1024 x 64 dwords = 256 KiB stay in L2 while
/// every row of x runs over them; a longer K goes in several chunks.
constexpr int64_t kChunkPairs = 1024;

/// out[0:R, 0:cols) (+)= x[0:R] * panel over `pairs` k pairs; x rows are
/// `ldx` dwords apart, out rows `ldo` floats. After the first chunk the
/// chains go on from the f32 values stored in out (exact).
template <int R>
void micro(const uint32_t *x, int64_t ldx, const uint32_t *panel,
           int64_t pairs, float *out, int64_t ldo, int64_t cols, bool first) {
  constexpr int NV = static_cast<int>(kCols / 16);
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v)
    mask[v] = mask16(cols - 16 * v);
  __m512 acc[R][NV];
  for (int m = 0; m < R; ++m)
    for (int v = 0; v < NV; ++v)
      acc[m][v] = first ? _mm512_setzero_ps()
                        : _mm512_maskz_loadu_ps(mask[v], out + m * ldo + 16 * v);
  for (int64_t j = 0; j < pairs; ++j) {
    __m512bh w[NV];
    for (int v = 0; v < NV; ++v)
      w[v] = reinterpret_cast<__m512bh>(
          _mm512_load_si512(panel + j * kCols + 16 * v));
    for (int m = 0; m < R; ++m) {
      __m512bh xb = reinterpret_cast<__m512bh>(
          _mm512_set1_epi32(static_cast<int>(x[m * ldx + j])));
      for (int v = 0; v < NV; ++v)
        acc[m][v] = _mm512_dpbf16_ps(acc[m][v], xb, w[v]);
    }
  }
  for (int m = 0; m < R; ++m)
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(out + m * ldo + 16 * v, mask[v], acc[m][v]);
}

/// The rows of x left after the whole kRows blocks: R, R - 1, ..., 1.
template <int R>
void microTail(int64_t rows, const uint32_t *x, int64_t ldx,
               const uint32_t *panel, int64_t pairs, float *out, int64_t ldo,
               int64_t cols, bool first) {
  if constexpr (R >= 1) {
    if (rows == R)
      micro<R>(x, ldx, panel, pairs, out, ldo, cols, first);
    else
      microTail<R - 1>(rows, x, ldx, panel, pairs, out, ldo, cols, first);
  }
}

/// out[:, n0:n1) (row stride N) = x [M][pairs dwords] * packed weight rows.
/// `pack(r0, count, j0, chunk, panel)` writes k pairs [j0, j0 + chunk) of
/// weight rows [r0, r0 + count) as a panel, columns count.. zero.
template <class Pack>
void gemm(const uint16_t *x16, int64_t M, int64_t pairs, float *out, int64_t N,
          int64_t n0, int64_t n1, Pack pack) {
  const auto *x = reinterpret_cast<const uint32_t *>(x16);
  auto *panel = static_cast<uint32_t *>(scratch(
      0, sizeof(uint32_t) *
             static_cast<size_t>(minI64(pairs, kChunkPairs) * kCols)));
  for (int64_t r0 = n0; r0 < n1; r0 += kCols) {
    const int64_t count = minI64(kCols, n1 - r0);
    for (int64_t j0 = 0; j0 < pairs; j0 += kChunkPairs) {
      const int64_t chunk = minI64(kChunkPairs, pairs - j0);
      const bool first = j0 == 0;
      pack(r0, count, j0, chunk, panel);
      int64_t m = 0;
      for (; m + kRows <= M; m += kRows)
        micro<kRows>(x + m * pairs + j0, pairs, panel, chunk, out + m * N + r0,
                     N, count, first);
      if (m < M)
        microTail<kRows - 1>(M - m, x + m * pairs + j0, pairs, panel, chunk,
                             out + m * N + r0, N, count, first);
    }
  }
}

/// Stores the first `n` (<= 16) of the transposed dword rows `r` as panel
/// k pairs [j, j + n), columns [c0, c0 + 16).
inline void storePairs(const __m512i r[16], int64_t n, uint32_t *panel,
                       int64_t j, int64_t c0) {
  for (int64_t k = 0; k < n; ++k)
    _mm512_store_si512(panel + (j + k) * kCols + c0, r[k]);
}

/// Dequantizes k pairs (bytes) [j0, j0 + chunk) of 4-bit weight rows
/// [r0, r0 + count) into a panel; j0 and chunk are multiples of 16.
void pack4bit(const Linear4bitProblem &p, int64_t r0, int64_t count,
              int64_t j0, int64_t chunk, uint32_t *panel) {
  const int64_t half = p.K / 2;
  const int64_t blocksPerRow = p.K / p.blocksize;
  const int64_t bytesPerBlock = p.blocksize / 2;
  const __m512 codebook = _mm512_loadu_ps(p.codebook);
  const __m512i highHalf = _mm512_set1_epi32(int(0xffff0000u));
  alignas(64) int32_t tables[16][16];
  for (int64_t c0 = 0; c0 < kCols; c0 += 16) {
    const int64_t rows = minI64(16, count - c0);
    if (rows <= 0) {
      const __m512i zero[16] = {};
      for (int64_t j = 0; j < chunk; j += 16)
        storePairs(zero, 16, panel, j, c0);
      continue;
    }
    int64_t block = -1;
    for (int64_t g = j0; g < j0 + chunk; g += 16) {
      if (g / bytesPerBlock != block) {
        // Each row's 16 weights of the new block, bf16 in the high halves.
        block = g / bytesPerBlock;
        for (int64_t i = 0; i < rows; ++i) {
          float absmax = p.absmax.get((r0 + c0 + i) * blocksPerRow + block);
          __m512 product = _mm512_mul_ps(codebook, _mm512_set1_ps(absmax));
          _mm512_store_si512(tables[i], roundBF16(product, true));
        }
      }
      __m512i r[16];
      for (int64_t i = 0; i < 16; ++i) {
        if (i >= rows) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const uint8_t *bytes = p.packed + (r0 + c0 + i) * half + g;
        if ((g & 63) == 0)
          _mm_prefetch(reinterpret_cast<const char *>(bytes) + 256,
                       _MM_HINT_T0);
        __m512i q = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(bytes)));
        __m512i table = _mm512_load_si512(tables[i]);
        // vpermd reads the low 4 index bits: the low nibble needs no mask.
        __m512i even = _mm512_permutexvar_epi32(_mm512_srli_epi32(q, 4), table);
        __m512i odd = _mm512_permutexvar_epi32(q, table);
        r[i] = _mm512_or_si512(_mm512_srli_epi32(even, 16),
                               _mm512_and_si512(odd, highHalf));
      }
      transpose16x16(r);
      storePairs(r, 16, panel, g - j0, c0);
    }
  }
}

/// Packs k pairs [j0, j0 + chunk) of bf16 weight rows [r0, r0 + count) of
/// w [N, K] into a panel; j0 is a multiple of 16.
void packBF16Rows(const MatmulProblem &p, int64_t r0, int64_t count,
                  int64_t j0, int64_t chunk, uint32_t *panel) {
  const auto *w = static_cast<const uint16_t *>(p.w);
  for (int64_t c0 = 0; c0 < kCols; c0 += 16) {
    const int64_t rows = minI64(16, count - c0);
    for (int64_t j = j0; j < j0 + chunk; j += 16) {
      // 32 elements of each row; past K (and in pairs past the last) zero.
      const __mmask32 mask = mask32(p.K - 2 * j);
      __m512i r[16];
      for (int64_t i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_epi16(
                              mask, w + (r0 + c0 + i) * p.K + 2 * j)
                        : _mm512_setzero_si512();
      transpose16x16(r);
      storePairs(r, minI64(16, j0 + chunk - j), panel, j - j0, c0);
    }
  }
}

} // namespace

bool avx512Bf16PackRows(const float *x, int64_t M, int64_t K, uint16_t *dst) {
  const int64_t ld = bf16PairRowLength(K);
  __m512i inexact = _mm512_setzero_si512();
  for (int64_t m = 0; m < M; ++m) {
    const float *row = x + m * K;
    uint16_t *out = dst + m * ld;
    for (int64_t k = 0; k < K; k += 16) {
      const __mmask16 mask = mask16(K - k);
      __m512i u = _mm512_maskz_loadu_epi32(mask, row + k);
      inexact = _mm512_or_si512(inexact, u);
      _mm512_mask_cvtepi32_storeu_epi16(out + k, mask,
                                        _mm512_srli_epi32(u, 16));
    }
    if (ld > K)
      out[K] = 0;
  }
  return _mm512_test_epi32_mask(inexact, _mm512_set1_epi32(0xffff)) == 0;
}

void avx512Bf16GemmLinear4bit(const Bf16GemmLinear4bitProblem &p, int64_t n0,
                              int64_t n1) {
  const Linear4bitProblem &q = p.p;
  gemm(p.x, q.M, q.K / 2, q.out, q.N, n0, n1,
       [&](int64_t r0, int64_t count, int64_t j0, int64_t chunk,
           uint32_t *panel) { pack4bit(q, r0, count, j0, chunk, panel); });
}

void avx512Bf16GemmMatmul(const Bf16GemmMatmulProblem &p, int64_t n0,
                          int64_t n1) {
  const MatmulProblem &q = p.p;
  gemm(p.x, q.M, (q.K + 1) / 2, q.out, q.N, n0, n1,
       [&](int64_t r0, int64_t count, int64_t j0, int64_t chunk,
           uint32_t *panel) { packBF16Rows(q, r0, count, j0, chunk, panel); });
}

} // namespace bnb::rt::uk
