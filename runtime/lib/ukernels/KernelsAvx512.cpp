//===- KernelsAvx512.cpp - AVX-512 microkernels ---------------------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c
// -ffp-contract=off; Dispatch.cpp checks each of these features before it
// picks this set. The 4-bit lookup is one vpermps of the 16-entry table with
// the nibble as index (vpermps reads only the low 4 index bits, so the low
// nibble needs no mask).
//
//===----------------------------------------------------------------------===//

#include "KernelsSimd.h"

#include <immintrin.h>

namespace bnb::rt::uk {
namespace {

/// 16 f32 lanes.
struct Avx512 {
  static constexpr int W = 16;
  static constexpr int MR = 8; // 8 x 32 microkernel: 16 zmm accumulators
  /// The 4-bit GEMV up to 8 rows of x, the panel GEMM from 9: each GEMV
  /// row reloads x for every weight row (a load per FMA), and from 9 rows
  /// the GEMM's once-dequantized panel wins (Zen 4, weights in L2, f32
  /// compute: 8 rows 329 against 321 us, 12 rows 482 against 395 us,
  /// 16 rows 717 against 463 us at 256x4096).
  static constexpr int64_t kGemv4bitMaxRows = 8;
  using F = __m512;
  using I = __m512i;

  /// Has transpose().
  static constexpr bool kTranspose = true;

  /// dst[j * ldDst + i] = src[i * ldSrc + j] for a 16 x 16 block.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC 12's unpack intrinsics pass a self-initialized _mm512_undefined_*
// value as the masked-off source, which -Wuninitialized reports.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
  static void transpose(const float *src, int64_t ldSrc, float *dst,
                        int64_t ldDst) {
    F r[16], t[16];
    for (int i = 0; i < 16; ++i)
      r[i] = _mm512_loadu_ps(src + i * ldSrc);
    // 2 x 2, then 4 x 4 blocks within 128-bit lanes, then the lanes.
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    auto pairs = [](F a, F b, bool high) {
      __m512d x = _mm512_castps_pd(a), y = _mm512_castps_pd(b);
      return _mm512_castpd_ps(high ? _mm512_unpackhi_pd(x, y)
                                   : _mm512_unpacklo_pd(x, y));
    };
    for (int g = 0; g < 16; g += 4) {
      r[g] = pairs(t[g], t[g + 2], false);
      r[g + 1] = pairs(t[g], t[g + 2], true);
      r[g + 2] = pairs(t[g + 1], t[g + 3], false);
      r[g + 3] = pairs(t[g + 1], t[g + 3], true);
    }
    for (int i = 0; i < 4; ++i) {
      t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
      t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
      t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
      t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; ++i) {
      r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
      r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
    for (int i = 0; i < 16; ++i)
      _mm512_storeu_ps(dst + i * ldDst, r[i]);
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  static F zero() { return _mm512_setzero_ps(); }
  static F load(const float *p) { return _mm512_loadu_ps(p); }
  static void store(float *p, F v) { _mm512_storeu_ps(p, v); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static float sum(F v) { return _mm512_reduce_add_ps(v); }
  static F loadF16(const uint16_t *p) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
  }
  static F loadBF16(const uint16_t *p) {
    __m512i h = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
  }

  /// Rounds to the compute dtype and back: F16C round-to-nearest-even, or
  /// bf16 round-to-nearest-even with NaN kept NaN (quiet bit set).
  static F roundTo(F v, int compute, bool maybeNaN = true) {
    if (compute == kF16)
      return _mm512_cvtph_ps(
          _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (compute == kBF16) {
      __m512i u = _mm512_castps_si512(v);
      __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16),
                                     _mm512_set1_epi32(1));
      __m512i rounded = _mm512_add_epi32(
          u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
      if (!maybeNaN)
        return _mm512_castsi512_ps(
            _mm512_and_si512(rounded, _mm512_set1_epi32(int(0xffff0000u))));
      __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      rounded = _mm512_mask_mov_epi32(
          rounded, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
      return _mm512_castsi512_ps(
          _mm512_and_si512(rounded, _mm512_set1_epi32(int(0xffff0000u))));
    }
    return v;
  }

  struct Table {
    __m512 t;
  };
  static Table table(const float *codebook, float absmax, int compute,
                     bool finiteCodebook) {
    bool maybeNaN = !finiteCodebook || !finite(absmax);
    return {roundTo(_mm512_mul_ps(_mm512_loadu_ps(codebook), set1(absmax)),
                    compute, maybeNaN)};
  }
  static I loadNibbles(const uint8_t *p) {
    return _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
  }
  static F lookupHi(const Table &t, I q) {
    return _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), t.t);
  }
  static F lookupLo(const Table &t, I q) {
    return _mm512_permutexvar_ps(q, t.t);
  }

  static I izero() { return _mm512_setzero_si512(); }
  static I iadd(I a, I b) { return _mm512_add_epi32(a, b); }
  static I madd(I a, I b) { return _mm512_madd_epi16(a, b); }
  static I loadI8Pairs(const int8_t *p) {
    return _mm512_cvtepi8_epi16(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
  }
  static I loadI16(const int16_t *p) { return _mm512_loadu_si512(p); }
  static I bcast32(int32_t v) { return _mm512_set1_epi32(v); }
  static int32_t isum(I v) { return _mm512_reduce_add_epi32(v); }
  static void storeI(int32_t *p, I v) { _mm512_storeu_si512(p, v); }
};

} // namespace

const KernelSet &avx512Kernels() {
  static const KernelSet set{linear4bit<Avx512>, matmul<Avx512>,
                             int8<Avx512>};
  return set;
}

} // namespace bnb::rt::uk
