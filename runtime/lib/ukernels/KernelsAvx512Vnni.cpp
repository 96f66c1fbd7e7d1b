//===- KernelsAvx512Vnni.cpp - AVX512-VNNI int8 GEMM ----------------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
// -mfma -mf16c; Dispatch.cpp calls in only at the avx512 level on a CPU with
// avx512_vnni, for LLM.int8()'s int8 product of kVnniGemmMinRows rows or more
// (where AMX does not take it).
//
// vpdpbusd multiplies 64 unsigned by 64 signed bytes and adds each group of
// four products to one of 16 int32 lanes: 64 multiply-adds per instruction,
// twice vpmaddwd's on int16 pairs. a is signed, so it is packed once per
// call as a + 128 (unsigned, 0..255), and each output starts from
// -128 * sum_k b[n][k]: sum_k (a + 128) b - 128 sum_k b = sum_k a b. A panel
// of 64 weight rows is [K/4][64] dwords, dword (j, c) holding row c's bytes
// 4j..4j+3 (a 16 x 16 dword transpose of 16 rows), in chunks of 1024 quads
// that stay in L2 while a 4 x 64 register block runs over every row of a.
//
// Numerics: exact. A group of four products is at most 4 * 255 * 128 in
// magnitude, and every sum is taken modulo 2^32 as the other int8 kernels'
// int32 accumulators do, so the result equals theirs bit for bit, whatever
// the thread count.
//
//===----------------------------------------------------------------------===//

#include "KernelsAvx512Vnni.h"
#include "Avx512Shared.h"

#include <immintrin.h>

namespace bnb::rt::uk {
namespace {

/// Weight rows (output columns) of one panel: four accumulators per row.
constexpr int64_t kCols = 64;

/// Rows of a per register block: 4 x 4 accumulators, four panel vectors and
/// a broadcast quad. Six rows (24 accumulators) would fit the 32 registers
/// too, but GCC 12 then spills accumulators in the inner loop: measured,
/// 34 ms against 19 ms at 128 x 11008 x 4096.
constexpr int kRows = 4;

/// k quads of one panel chunk: 1024 x 64 dwords = 256 KiB stay in L2.
constexpr int64_t kChunkQuads = 1024;

/// out[0:R, 0:cols) (+)= a[0:R] * panel over `quads` k quads; a rows are
/// `lda` dwords apart. The first chunk starts from `start` (-128 times each
/// column's weight sum), later ones from the int32 values in out.
template <int R>
void micro(const uint32_t *a, int64_t lda, const uint32_t *panel,
           int64_t quads, int32_t *out, int64_t ldo, int64_t cols,
           const int32_t *start) {
  constexpr int NV = static_cast<int>(kCols / 16);
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v)
    mask[v] = mask16(cols - 16 * v);
  __m512i acc[R][NV];
  for (int m = 0; m < R; ++m)
    for (int v = 0; v < NV; ++v)
      acc[m][v] = start ? _mm512_load_si512(start + 16 * v)
                        : _mm512_maskz_loadu_epi32(mask[v],
                                                   out + m * ldo + 16 * v);
  for (int64_t j = 0; j < quads; ++j) {
    __m512i w[NV];
    for (int v = 0; v < NV; ++v)
      w[v] = _mm512_load_si512(panel + j * kCols + 16 * v);
    for (int m = 0; m < R; ++m) {
      __m512i ab = _mm512_set1_epi32(static_cast<int>(a[m * lda + j]));
      for (int v = 0; v < NV; ++v)
        acc[m][v] = _mm512_dpbusd_epi32(acc[m][v], ab, w[v]);
    }
  }
  for (int m = 0; m < R; ++m)
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_epi32(out + m * ldo + 16 * v, mask[v], acc[m][v]);
}

/// The rows of a left after the whole kRows blocks: R, R - 1, ..., 1.
template <int R>
void microTail(int64_t rows, const uint32_t *a, int64_t lda,
               const uint32_t *panel, int64_t quads, int32_t *out, int64_t ldo,
               int64_t cols, const int32_t *start) {
  if constexpr (R >= 1) {
    if (rows == R)
      micro<R>(a, lda, panel, quads, out, ldo, cols, start);
    else
      microTail<R - 1>(rows, a, lda, panel, quads, out, ldo, cols, start);
  }
}

/// -128 * sum_k b[r0 + c][k] for columns c < count (0 beyond), wrapping.
void columnStarts(const Int8Problem &p, int64_t r0, int64_t count,
                  int32_t *start) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t c = 0; c < kCols; ++c) {
    if (c >= count) {
      start[c] = 0;
      continue;
    }
    const int8_t *row = p.b + (r0 + c) * p.K;
    __m512i sum = _mm512_setzero_si512();
    for (int64_t k = 0; k < p.K; k += 64)
      sum = _mm512_dpbusd_epi32(sum, ones,
                                _mm512_maskz_loadu_epi8(mask64(p.K - k),
                                                        row + k));
    uint32_t total = static_cast<uint32_t>(_mm512_reduce_add_epi32(sum));
    start[c] = static_cast<int32_t>(total * 0xffffff80u); // * -128 mod 2^32
  }
}

/// Packs k quads [j0, j0 + chunk) of weight rows [r0, r0 + count) into a
/// panel, columns count.. and bytes past K zero; j0 is a multiple of 16.
void pack(const Int8Problem &p, int64_t r0, int64_t count, int64_t j0,
          int64_t chunk, uint32_t *panel) {
  for (int64_t c0 = 0; c0 < kCols; c0 += 16) {
    const int64_t rows = minI64(16, count - c0);
    for (int64_t j = j0; j < j0 + chunk; j += 16) {
      const __mmask64 mask = mask64(p.K - 4 * j);
      __m512i r[16];
      for (int64_t i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_epi8(
                              mask, p.b + (r0 + c0 + i) * p.K + 4 * j)
                        : _mm512_setzero_si512();
      transpose16x16(r);
      for (int64_t k = 0; k < 16 && j + k < j0 + chunk; ++k)
        _mm512_store_si512(panel + (j - j0 + k) * kCols + c0, r[k]);
    }
  }
}

} // namespace

void avx512VnniPackRows(const int8_t *a, int64_t M, int64_t K, uint8_t *dst) {
  const int64_t ld = vnniRowLength(K);
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t k = 0; k < K; k += 64) {
      const __mmask64 mask = mask64(K - k);
      __m512i v = _mm512_maskz_loadu_epi8(mask, a + m * K + k);
      _mm512_mask_storeu_epi8(dst + m * ld + k, mask,
                              _mm512_xor_si512(v, bias));
    }
    for (int64_t k = K; k < ld; ++k)
      dst[m * ld + k] = 0;
  }
}

void avx512VnniInt8(const VnniInt8Problem &p, int64_t n0, int64_t n1) {
  const Int8Problem &q = p.p;
  const int64_t quads = vnniRowLength(q.K) / 4;
  const auto *a = reinterpret_cast<const uint32_t *>(p.a);
  auto *panel = static_cast<uint32_t *>(scratch(
      0, sizeof(uint32_t) *
             static_cast<size_t>(minI64(quads, kChunkQuads) * kCols)));
  alignas(64) int32_t start[kCols];
  for (int64_t r0 = n0; r0 < n1; r0 += kCols) {
    const int64_t count = minI64(kCols, n1 - r0);
    columnStarts(q, r0, count, start);
    for (int64_t j0 = 0; j0 < quads; j0 += kChunkQuads) {
      const int64_t chunk = minI64(kChunkQuads, quads - j0);
      const int32_t *first = j0 == 0 ? start : nullptr;
      pack(q, r0, count, j0, chunk, panel);
      int64_t m = 0;
      for (; m + kRows <= q.M; m += kRows)
        micro<kRows>(a + m * quads + j0, quads, panel, chunk,
                     q.out + m * q.N + r0, q.N, count, first);
      if (m < q.M)
        microTail<kRows - 1>(q.M - m, a + m * quads + j0, quads, panel, chunk,
                             q.out + m * q.N + r0, q.N, count, first);
    }
  }
}

} // namespace bnb::rt::uk
