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
// bf16 values), into f32 accumulators. Under double quantization a block's
// absmax is looked up by its code in a table of the 256 absmaxes its nested
// block can give (AbsmaxSource::get's arithmetic, once per nested block).
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

/// The 32-entry bf16 table [T, T] of a block with absmax `absmax`: T rounded
/// by vcvtneps2bf16 (exact when the block passes allNormal), repeated so that
/// vpermw, which reads 5 index bits, needs no mask on the low nibble.
inline __m512i fastTable(const __m512 &codebook, float absmax) {
  __m512 t = _mm512_mul_ps(codebook, _mm512_set1_ps(absmax));
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(t, t));
}

/// Adds 32 packed bytes at `q8` (64 weights) times x at `xe`/`xo` (their 32
/// even and 32 odd elements, rows `half` apart) to `acc`.
template <int R>
inline void step32(const __m512i &table, const uint8_t *q8,
                   const uint16_t *xe, const uint16_t *xo, int64_t half,
                   AccSet<R> &acc) {
  __m512i q = _mm512_cvtepu8_epi16(
      _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q8)));
  __m512bh hi = reinterpret_cast<__m512bh>(
      _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 4), table));
  __m512bh lo = reinterpret_cast<__m512bh>(_mm512_permutexvar_epi16(q, table));
  for (int m = 0; m < R; ++m) {
    acc[0][m] = _mm512_dpbf16_ps(
        acc[0][m], hi,
        reinterpret_cast<__m512bh>(_mm512_loadu_si512(xe + m * half)));
    acc[1][m] = _mm512_dpbf16_ps(
        acc[1][m], lo,
        reinterpret_cast<__m512bh>(_mm512_loadu_si512(xo + m * half)));
  }
}

/// Adds block `b` with the vcvtneps2bf16 table and vdpbf16ps.
template <int R>
inline void blockFast(const Linear4bitProblem &p, const uint8_t *row,
                      float absmax, int64_t j0, int64_t bytes,
                      const uint16_t *xe, const uint16_t *xo, int64_t half,
                      AccSet<R> &acc) {
  __m512i table = fastTable(_mm512_loadu_ps(p.codebook), absmax);
  int64_t j = j0;
  for (; j + 32 <= j0 + bytes; j += 32)
    step32<R>(table, row + j, xe + j, xo + j, half, acc);
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

/// Adds `blocks` blocks of 32 bytes (blocksize 64, the default) from `row`
/// to `even` (blocks 0, 2, ...) and `odd`, with block b's absmax
/// `absmaxOf(b)`: blockFast's work with no inner loop, tail check or index
/// arithmetic per block. A caller that splits a row passes the sets swapped
/// for a part that starts at an odd block, so that each set gets the same
/// blocks in the same order as in one pass.
template <int R, typename AbsmaxOf>
inline void rowBlocks32(const __m512 &codebook, const uint8_t *row,
                        AbsmaxOf absmaxOf, int64_t blocks, const uint16_t *xe,
                        const uint16_t *xo, int64_t half, AccSet<R> &even,
                        AccSet<R> &odd) {
  // Local copies: the compiler keeps them in registers, where it would
  // load and store the callers' sets around every block.
  AccSet<R> e, o;
  for (int i = 0; i < 2; ++i)
    for (int m = 0; m < R; ++m) {
      e[i][m] = even[i][m];
      o[i][m] = odd[i][m];
    }
  auto block = [&](int64_t b, AccSet<R> &a) {
    step32<R>(fastTable(codebook, absmaxOf(b)), row + 32 * b, xe + 32 * b,
              xo + 32 * b, half, a);
  };
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    prefetchAhead(row + 32 * (b + 2));
    block(b, e);
    block(b + 1, o);
  }
  if (b < blocks)
    block(b, e);
  for (int i = 0; i < 2; ++i)
    for (int m = 0; m < R; ++m) {
      even[i][m] = e[i][m];
      odd[i][m] = o[i][m];
    }
}

/// Stores outputs (m0 + m, n), m < R: the two accumulator sets and the
/// fallback set summed in a fixed order.
template <int R>
inline void storeRow(const Linear4bitProblem &p, int64_t m0, int64_t n,
                     const AccSet<R> (&acc)[2], const AccSet<R> &exact) {
  for (int m = 0; m < R; ++m) {
    __m512 total = _mm512_add_ps(_mm512_add_ps(acc[0][0][m], acc[0][1][m]),
                                 _mm512_add_ps(acc[1][0][m], acc[1][1][m]));
    total = _mm512_add_ps(total, _mm512_add_ps(exact[0][m], exact[1][m]));
    p.out[(m0 + m) * p.N + n] = _mm512_reduce_add_ps(total);
  }
}

template <int R> inline void zero(AccSet<R> &acc) {
  for (int i = 0; i < 2; ++i)
    for (int m = 0; m < R; ++m)
      acc[i][m] = _mm512_setzero_ps();
}

/// Weight row n for rows m0..m0+R of x, any blocksize, with the exact
/// fallback for blocks whose table vcvtneps2bf16 would flush.
template <int R>
void gemvRow(const Linear4bitProblem &p, uint32_t threshold, int64_t m0,
             int64_t n, const float *absmax) {
  const int64_t half = p.K / 2;
  const int64_t blocksPerRow = p.K / p.blocksize;
  const int64_t bytes = p.blocksize / 2;
  const uint16_t *xe = p.xEvenBf16 + m0 * half;
  const uint16_t *xo = p.xOddBf16 + m0 * half;
  // Two accumulator sets, for even and odd blocks: independent chains
  // hide the vdpbf16ps latency. Fallback blocks get their own set:
  // vdpbf16ps would flush a denormal partial sum of theirs.
  AccSet<R> acc[2], exact;
  zero<R>(acc[0]);
  zero<R>(acc[1]);
  zero<R>(exact);
  const uint8_t *row = p.packed + n * half;
  if (allNormal(absmax, blocksPerRow, threshold)) {
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
      if (allNormal(absmax + b, 1, threshold))
        blockFast<R>(p, row, absmax[b], b * bytes, bytes, xe, xo, half,
                     acc[b & 1]);
      else
        blockExact<R>(p, row, absmax[b], b * bytes, bytes,
                      p.xEven + m0 * half, p.xOdd + m0 * half, half, exact);
    }
  }
  storeRow<R>(p, m0, n, acc, exact);
}

/// Double quantization's absmax for the blocks of one nested block: the 256
/// values code8[c] * nested + offset, indexed by the stored code, so that a
/// block's absmax is one table load (bitsandbytes expands the whole absmax
/// at load time instead; the per-16-blocks gather cost a fifth of the GEMV).
struct NestedTable {
  NestedAbsmax absmax;
  /// Every entry passes allNormal: any block of this nested block may take
  /// the vcvtneps2bf16 table.
  bool normal = false;

  /// Makes the table of nested block `n` (a no-op if it is current).
  void build(const AbsmaxSource &s, int64_t n, uint32_t threshold) {
    if (absmax.nest == n)
      return;
    absmax.build(s, n);
    normal = allNormal(absmax.value, 256, threshold);
  }
};

/// The nested block of a block, followed forward without a division: rows
/// are visited in order.
struct NestedCursor {
  int64_t nest = 0, start = 0, size = 1;
  NestedCursor(int64_t block, int64_t nestedBlocksize)
      : nest(block / nestedBlocksize), start(nest * nestedBlocksize),
        size(nestedBlocksize) {}
  /// Moves to the nested block of `block` (>= the current one's start).
  void advanceTo(int64_t block) {
    while (block >= start + size) {
      ++nest;
      start += size;
    }
  }
};

/// Weight row n (blocksize 64) under double quantization, part by part
/// between nested-block boundaries. False, with nothing written, when a
/// nested table the row needs is not all normal. `tables` holds consecutive
/// nested blocks in alternate slots: a row that crosses a boundary (K =
/// 11008 does, every few rows) finds both of its tables built.
template <int R>
bool gemvRowNested(const Linear4bitProblem &p, uint32_t threshold, int64_t m0,
                   int64_t n, const __m512 &codebook, NestedCursor &cursor,
                   NestedTable (&tables)[2]) {
  const AbsmaxSource &s = p.absmax;
  const int64_t half = p.K / 2;
  const int64_t blocksPerRow = p.K / 64;
  const int64_t first = n * blocksPerRow, end = first + blocksPerRow;
  cursor.advanceTo(first);
  for (NestedCursor c = cursor; c.start < end; c.advanceTo(c.start + c.size)) {
    NestedTable &table = tables[c.nest & 1];
    table.build(s, c.nest, threshold);
    if (!table.normal)
      return false;
  }
  AccSet<R> acc[2], none;
  zero<R>(acc[0]);
  zero<R>(acc[1]);
  zero<R>(none);
  const uint8_t *row = p.packed + n * half;
  const uint16_t *xe = p.xEvenBf16 + m0 * half;
  const uint16_t *xo = p.xOddBf16 + m0 * half;
  for (NestedCursor c = cursor; c.start < end; c.advanceTo(c.start + c.size)) {
    const int64_t b = c.start > first ? c.start : first;
    const int64_t partEnd = minI64(end, c.start + c.size);
    NestedTable &table = tables[c.nest & 1];
    table.build(s, c.nest, threshold);
    const int64_t local = b - first;
    const uint8_t *codes = s.codes + b;
    const float *values = table.absmax.value;
    auto absmaxOf = [codes, values](int64_t i) { return values[codes[i]]; };
    AccSet<R> &even = acc[local & 1], &odd = acc[1 - (local & 1)];
    rowBlocks32<R>(codebook, row + 32 * local, absmaxOf, partEnd - b,
                   xe + 32 * local, xo + 32 * local, half, even, odd);
  }
  storeRow<R>(p, m0, n, acc, none);
  return true;
}

/// GEMV over weight rows [n0, n1) for rows m0..m0+R of x.
template <int R>
void gemv(const Linear4bitProblem &p, uint32_t threshold, int64_t m0,
          int64_t n0, int64_t n1) {
  const int64_t half = p.K / 2;
  const int64_t blocksPerRow = p.K / p.blocksize;
  const uint16_t *xe = p.xEvenBf16 + m0 * half;
  const uint16_t *xo = p.xOddBf16 + m0 * half;
  auto *absmaxBuffer = static_cast<float *>(
      scratch(2, sizeof(float) * static_cast<size_t>(blocksPerRow)));
  const __m512 codebook = _mm512_loadu_ps(p.codebook);
  const bool nested = !p.absmax.absmax;
  NestedTable tables[2];
  NestedAbsmax cache; // rows that take the fallback
  NestedCursor cursor(n0 * blocksPerRow, nested ? p.absmax.nestedBlocksize : 1);

  for (int64_t n = n0; n < n1; ++n) {
    if (p.blocksize == 64 && nested &&
        gemvRowNested<R>(p, threshold, m0, n, codebook, cursor, tables))
      continue;
    const float *absmax =
        p.absmax.range(n * blocksPerRow, blocksPerRow, absmaxBuffer, cache);
    if (p.blocksize == 64 && allNormal(absmax, blocksPerRow, threshold)) {
      AccSet<R> acc[2], none;
      zero<R>(acc[0]);
      zero<R>(acc[1]);
      zero<R>(none);
      auto absmaxOf = [absmax](int64_t b) { return absmax[b]; };
      rowBlocks32<R>(codebook, p.packed + n * half, absmaxOf, blocksPerRow, xe,
                     xo, half, acc[0], acc[1]);
      storeRow<R>(p, m0, n, acc, none);
      continue;
    }
    gemvRow<R>(p, threshold, m0, n, absmax);
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

uint32_t bf16TableThreshold(const float *codebook) {
  // The smallest nonzero |codebook[q]|: decides per block whether the fast
  // table conversion is exact (a NaN entry compares false and is skipped).
  double minCode = 0.0;
  for (int i = 0; i < 16; ++i) {
    double c = codebook[i] < 0.0f ? -double(codebook[i]) : double(codebook[i]);
    if (c > 0.0 && (minCode == 0.0 || c < minCode))
      minCode = c;
  }
  return normalThreshold(minCode);
}

void avx512Bf16Linear4bit(const Linear4bitProblem &p, int64_t n0, int64_t n1) {
  const uint32_t threshold = bf16TableThreshold(p.codebook);
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
