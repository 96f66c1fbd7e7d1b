//===- KernelsAvx512Bf16.cpp - AVX512-BF16 4-bit GEMV ---------------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16
// -mfma -mf16c -ffp-contract=off; Dispatch.cpp calls in only at the avx512
// level on a CPU with avx512_bf16, for a 4-bit GEMV (M <= kGemvMaxRows) with
// compute dtype bf16 on the fast path (whole 32-element groups per block).
//
// Per block, the 16 weights w = bf16_rne(f32(codebook[q] * absmax)) are a
// 16-bit table, repeated to 32 entries so that vpermw (which reads 5 index
// bits) needs no mask on the low nibble. 32 packed bytes are zero-extended
// to 16 bits; the high nibbles (even elements) and the low nibbles (odd
// elements) index the table, and vdpbf16ps multiplies them with x, which the
// dispatcher split once per call into bf16 even/odd arrays (exact: x holds
// bf16 values), into f32 accumulators.
//
// Numerics:
//  - vcvtneps2bf16 rounds to nearest even like the portable code but
//    flushes denormal results to zero, so it builds the table only when
//    every |codebook[q] * absmax| is 0 or >= 2^-126 (checked exactly per
//    block from absmax). Any other block gets its table from the exact
//    integer rounding and is multiplied in f32 (vpermps + FMA with the f32
//    even/odd x) into accumulators of its own, where bf16 denormal weights
//    and partial sums keep their value. A row whose absmaxes all pass takes
//    a loop without the per-block check.
//  - a bf16 x bf16 product is exact in f32 (8 + 8 significant bits), but
//    vdpbf16ps treats denormal inputs as zero and flushes denormal results:
//    an x element below 2^-126 in magnitude counts as zero, and so does a
//    product below 2^-126. Table entries never are denormal on this path.
//  - each output is the sum over fixed f32 lanes and accumulators, in an
//    order fixed by the problem alone (not by the thread count).
//
//===----------------------------------------------------------------------===//

#include "KernelsAvx512Bf16.h"
#include "Avx512Shared.h"

#include <immintrin.h>

namespace bnb::rt::uk {

/// Blocks that took the exact fallback (test hook; relaxed atomic adds only
/// on such blocks).
uint64_t bf16GemvFallbackBlocks = 0;

namespace {

/// The f32 products codebook * absmax.
inline __m512 products(const float *codebook, float absmax) {
  return _mm512_mul_ps(_mm512_loadu_ps(codebook), _mm512_set1_ps(absmax));
}

/// The products rounded to bf16 exactly as f32ToBF16 does (denormals kept,
/// NaN quieted), as f32 values.
inline __m512 roundBf16Exact(__m512 v) {
  return _mm512_castsi512_ps(_mm512_and_si512(
      roundBF16(v, true), _mm512_set1_epi32(int(0xffff0000u))));
}

/// The bits of the smallest float `a` for which every |codebook[q] * a|
/// is 0 or >= 2^-126, `minCode` being the smallest nonzero |codebook[q]|
/// (0 if none): vcvtneps2bf16 then gives the exact table of an absmax with
/// |absmax| >= a (or absmax 0). The double product of two floats is exact
/// and rounding is monotonic, so comparing it with 2^-126 decides it.
inline uint32_t normalThreshold(double minCode) {
  if (minCode == 0.0)
    return 0; // every product is 0 or NaN
  auto ok = [&](uint32_t bits) {
    return double(floatOf(bits)) * minCode >= 0x1p-126;
  };
  double guess = 0x1p-126 / minCode;
  uint32_t bits = guess >= 0x1p127 ? 0x7f800000u : bitsOf(float(guess));
  while (bits < 0x7f800000u && !ok(bits))
    ++bits;
  while (bits > 0 && ok(bits - 1))
    --bits;
  return bits;
}

/// True when vcvtneps2bf16 gives the exact table of every absmax in
/// [0, count): |a| >= threshold or a == 0 (as (|a| - 1) >= (threshold - 1)
/// unsigned). NaN passes: both roundings give the same quiet NaN.
inline bool allNormal(const float *absmax, int64_t count, uint32_t threshold) {
  if (threshold == 0)
    return true;
  const __m512i magnitude = _mm512_set1_epi32(0x7fffffff);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i limit = _mm512_set1_epi32(int(threshold - 1));
  __mmask16 ok = 0xffff;
  int64_t b = 0;
  for (; b + 16 <= count; b += 16) {
    __m512i a = _mm512_and_si512(
        _mm512_castps_si512(_mm512_loadu_ps(absmax + b)), magnitude);
    ok &= _mm512_cmpge_epu32_mask(_mm512_sub_epi32(a, one), limit);
  }
  bool all = ok == 0xffff;
  for (; b < count; ++b)
    all &= ((bitsOf(absmax[b]) & 0x7fffffffu) - 1u) >= threshold - 1u;
  return all;
}

/// Per row: the absmax of each block, reconstructing double quantization
/// 16 blocks at a time: the codes gathered from the 8-bit map, times the
/// nested absmax, rounded, plus the offset (-ffp-contract=off keeps the two
/// roundings), exactly as AbsmaxSource::get one by one.
inline void rowAbsmax(const AbsmaxSource &s, int64_t block0, int64_t count,
                      float *dst) {
  if (s.absmax) {
    for (int64_t b = 0; b < count; ++b)
      dst[b] = s.absmax[block0 + b];
    return;
  }
  const __m512 offset = _mm512_set1_ps(s.offset);
  int64_t b = 0;
  for (; b + 16 <= count; b += 16) {
    int64_t first = block0 + b;
    int64_t nest = first / s.nestedBlocksize;
    if ((first + 15) / s.nestedBlocksize != nest) {
      // The group where one nested block ends and the next begins.
      for (int64_t i = 0; i < 16; ++i)
        dst[b + i] = s.get(first + i);
      continue;
    }
    __m512i codes = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(s.codes + first)));
    __m512 product =
        _mm512_mul_ps(_mm512_i32gather_ps(codes, s.code8, sizeof(float)),
                      _mm512_set1_ps(s.nested[nest]));
    _mm512_storeu_ps(dst + b, _mm512_add_ps(product, offset));
  }
  for (; b < count; ++b)
    dst[b] = s.get(block0 + b);
}

/// Accumulators of one set: [even, odd][row of x].
template <int R> using AccSet = __m512[2][R];

/// Adds block `b` (bytes [j0, j0 + bytes) of `row`) to `acc` with the exact
/// table and f32 FMAs: the fallback for denormal table entries.
template <int R>
inline void blockExact(const Linear4bitProblem &p, const uint8_t *row,
                       float absmax, int64_t j0, int64_t bytes, const float *xe,
                       const float *xo, int64_t half, AccSet<R> &acc) {
  __atomic_fetch_add(&bf16GemvFallbackBlocks, 1, __ATOMIC_RELAXED);
  __m512 table = roundBf16Exact(products(p.codebook, absmax));
  for (int64_t j = j0; j < j0 + bytes; j += 16) {
    __m512i q = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + j)));
    __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), table);
    __m512 lo = _mm512_permutexvar_ps(q, table);
    for (int m = 0; m < R; ++m) {
      acc[0][m] =
          _mm512_fmadd_ps(hi, _mm512_loadu_ps(xe + m * half + j), acc[0][m]);
      acc[1][m] =
          _mm512_fmadd_ps(lo, _mm512_loadu_ps(xo + m * half + j), acc[1][m]);
    }
  }
}

/// Adds block `b` with the vcvtneps2bf16 table and vdpbf16ps.
template <int R>
inline void blockFast(const Linear4bitProblem &p, const uint8_t *row,
                      float absmax, int64_t j0, int64_t bytes,
                      const uint16_t *xe, const uint16_t *xo, int64_t half,
                      AccSet<R> &acc) {
  __m512 t = products(p.codebook, absmax);
  // [T, T]: 32 entries, so that vpermw needs no mask on the low nibble.
  __m512i table = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(t, t));
  int64_t j = j0;
  for (; j + 32 <= j0 + bytes; j += 32) {
    __m512i q = _mm512_cvtepu8_epi16(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + j)));
    __m512bh hi = reinterpret_cast<__m512bh>(
        _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 4), table));
    __m512bh lo =
        reinterpret_cast<__m512bh>(_mm512_permutexvar_epi16(q, table));
    for (int m = 0; m < R; ++m) {
      acc[0][m] = _mm512_dpbf16_ps(
          acc[0][m], hi,
          reinterpret_cast<__m512bh>(_mm512_loadu_si512(xe + m * half + j)));
      acc[1][m] = _mm512_dpbf16_ps(
          acc[1][m], lo,
          reinterpret_cast<__m512bh>(_mm512_loadu_si512(xo + m * half + j)));
    }
  }
  if (j < j0 + bytes) {
    // 16 bytes: the upper lanes get zero weights and zero x (a zero weight,
    // not table[0], so that an infinite entry cannot make a NaN).
    const __mmask32 low = 0xffffu;
    __m512i q = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + j))));
    __m512bh hi = reinterpret_cast<__m512bh>(
        _mm512_maskz_permutexvar_epi16(low, _mm512_srli_epi16(q, 4), table));
    __m512bh lo = reinterpret_cast<__m512bh>(
        _mm512_maskz_permutexvar_epi16(low, q, table));
    for (int m = 0; m < R; ++m) {
      acc[0][m] =
          _mm512_dpbf16_ps(acc[0][m], hi,
                           reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(
                               low, xe + m * half + j)));
      acc[1][m] =
          _mm512_dpbf16_ps(acc[1][m], lo,
                           reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(
                               low, xo + m * half + j)));
    }
  }
}

/// Adds a row of blocks of 32 bytes (blocksize 64, the default) to `acc`:
/// blockFast's work with a single 32-byte group per block and two blocks
/// per iteration, so that no inner loop, tail check or index arithmetic
/// runs per block. The same accumulators as blockFast's, in the same order.
template <int R>
inline void rowBlocks32(const __m512 &codebook, const uint8_t *row,
                        const float *absmax, int64_t blocks,
                        const uint16_t *xe, const uint16_t *xo, int64_t half,
                        AccSet<R> (&acc)[2]) {
  auto block = [&](int64_t b, AccSet<R> &a) {
    __m512 t = _mm512_mul_ps(codebook, _mm512_set1_ps(absmax[b]));
    __m512i table = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(t, t));
    __m512i q = _mm512_cvtepu8_epi16(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 32 * b)));
    __m512bh hi = reinterpret_cast<__m512bh>(
        _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 4), table));
    __m512bh lo =
        reinterpret_cast<__m512bh>(_mm512_permutexvar_epi16(q, table));
    for (int m = 0; m < R; ++m) {
      a[0][m] = _mm512_dpbf16_ps(
          a[0][m], hi,
          reinterpret_cast<__m512bh>(
              _mm512_loadu_si512(xe + m * half + 32 * b)));
      a[1][m] = _mm512_dpbf16_ps(
          a[1][m], lo,
          reinterpret_cast<__m512bh>(
              _mm512_loadu_si512(xo + m * half + 32 * b)));
    }
  };
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    prefetchAhead(row + 32 * (b + 2));
    block(b, acc[0]);
    block(b + 1, acc[1]);
  }
  if (b < blocks)
    block(b, acc[0]);
}

/// GEMV over weight rows [n0, n1) for rows m0..m0+R of x.
template <int R>
void gemv(const Linear4bitProblem &p, uint32_t threshold, int64_t m0,
          int64_t n0, int64_t n1) {
  const int64_t half = p.K / 2;
  const int64_t blocksPerRow = p.K / p.blocksize;
  const int64_t bytes = p.blocksize / 2;
  const uint16_t *xe = p.xEvenBf16 + m0 * half;
  const uint16_t *xo = p.xOddBf16 + m0 * half;
  const float *xef = p.xEven + m0 * half;
  const float *xof = p.xOdd + m0 * half;
  auto *absmax = static_cast<float *>(
      scratch(2, sizeof(float) * static_cast<size_t>(blocksPerRow)));
  const __m512 codebook = _mm512_loadu_ps(p.codebook);

  for (int64_t n = n0; n < n1; ++n) {
    // Two accumulator sets, for even and odd blocks: independent chains
    // hide the vdpbf16ps latency.
    // Fallback blocks get their own set: vdpbf16ps would flush a denormal
    // partial sum of theirs.
    AccSet<R> acc[2], exact;
    for (int m = 0; m < R; ++m)
      for (int i = 0; i < 2; ++i)
        acc[0][i][m] = acc[1][i][m] = exact[i][m] = _mm512_setzero_ps();
    const uint8_t *row = p.packed + n * half;
    rowAbsmax(p.absmax, n * blocksPerRow, blocksPerRow, absmax);
    if (bytes == 32 && allNormal(absmax, blocksPerRow, threshold)) {
      rowBlocks32<R>(codebook, row, absmax, blocksPerRow, xe, xo, half, acc);
    } else if (allNormal(absmax, blocksPerRow, threshold)) {
      int64_t b = 0;
      for (; b + 2 <= blocksPerRow; b += 2) {
        prefetchAhead(row + (b + 2) * bytes);
        blockFast<R>(p, row, absmax[b], b * bytes, bytes, xe, xo, half, acc[0]);
        blockFast<R>(p, row, absmax[b + 1], (b + 1) * bytes, bytes, xe, xo,
                     half, acc[1]);
      }
      if (b < blocksPerRow)
        blockFast<R>(p, row, absmax[b], b * bytes, bytes, xe, xo, half, acc[0]);
    } else {
      for (int64_t b = 0; b < blocksPerRow; ++b) {
        bool normal = allNormal(absmax + b, 1, threshold);
        if (normal)
          blockFast<R>(p, row, absmax[b], b * bytes, bytes, xe, xo, half,
                       acc[b & 1]);
        else
          blockExact<R>(p, row, absmax[b], b * bytes, bytes, xef, xof, half,
                        exact);
      }
    }
    for (int m = 0; m < R; ++m) {
      __m512 total = _mm512_add_ps(_mm512_add_ps(acc[0][0][m], acc[0][1][m]),
                                   _mm512_add_ps(acc[1][0][m], acc[1][1][m]));
      total = _mm512_add_ps(total, _mm512_add_ps(exact[0][m], exact[1][m]));
      p.out[(m0 + m) * p.N + n] = _mm512_reduce_add_ps(total);
    }
  }
}

} // namespace

void avx512Bf16SplitX(const float *x, int64_t M, int64_t K, uint16_t *even,
                      uint16_t *odd) {
  const int64_t half = K / 2;
  // 16 pairs at a time: vcvtneps2bf16 is exact on bf16 values, and
  // vpmovdw keeps the even/odd halves of the pair lanes.
  for (int64_t m = 0; m < M; ++m) {
    const float *xm = x + m * K;
    int64_t j = 0;
    for (; j + 16 <= half; j += 16) {
      __m512i pairs0 = _mm512_castps_si512(_mm512_loadu_ps(xm + 2 * j));
      __m512i pairs1 = _mm512_castps_si512(_mm512_loadu_ps(xm + 2 * j + 16));
      // bf16 of 32 floats in order, then split by parity.
      __m512i h = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(
          _mm512_castsi512_ps(pairs1), _mm512_castsi512_ps(pairs0)));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(even + m * half + j),
                          _mm512_cvtepi32_epi16(h));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(odd + m * half + j),
                          _mm512_cvtepi32_epi16(_mm512_srli_epi32(h, 16)));
    }
    for (; j < half; ++j) {
      even[m * half + j] = floatToBFloat16(xm[2 * j]);
      odd[m * half + j] = floatToBFloat16(xm[2 * j + 1]);
    }
  }
}

void avx512Bf16Linear4bit(const Linear4bitProblem &p, int64_t n0, int64_t n1) {
  // The smallest nonzero |codebook[q]|: decides per block whether the fast
  // table conversion is exact (a NaN entry compares false and is skipped).
  double minCode = 0.0;
  for (int i = 0; i < 16; ++i) {
    double c =
        p.codebook[i] < 0.0f ? -double(p.codebook[i]) : double(p.codebook[i]);
    if (c > 0.0 && (minCode == 0.0 || c < minCode))
      minCode = c;
  }
  const uint32_t threshold = normalThreshold(minCode);
  int64_t m = 0;
  for (; m + 4 <= p.M; m += 4)
    gemv<4>(p, threshold, m, n0, n1);
  switch (p.M - m) {
  case 3:
    gemv<3>(p, threshold, m, n0, n1);
    break;
  case 2:
    gemv<2>(p, threshold, m, n0, n1);
    break;
  case 1:
    gemv<1>(p, threshold, m, n0, n1);
    break;
  default:
    break;
  }
}

} // namespace bnb::rt::uk
