//===- KernelsAvx2.cpp - AVX2 + FMA + F16C microkernels -------------------===//
//
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off; Dispatch.cpp checks
// each of these features before it picks this set. The 4-bit lookup reads
// the 16-entry table as two 8-entry halves (vpermps uses the low 3 index
// bits) and blends on index bit 3, moved to the sign bit for vblendvps.
//
//===----------------------------------------------------------------------===//

#include "KernelsSimd.h"

#include <immintrin.h>

namespace bnb::rt::uk {
namespace {

/// 8 f32 lanes.
struct Avx2 {
  static constexpr int W = 8;
  static constexpr int MR = 3; // 3 x 32 microkernel: 12 ymm accumulators
  /// The 4-bit GEMV for every row count it takes (not measured against the
  /// GEMM, whose AVX2 panel is transposed element by element).
  static constexpr int64_t kGemv4bitMaxRows = kGemvMaxRows;
  using F = __m256;
  using I = __m256i;

  /// No vector transpose: the GEMM panel is transposed element by element.
  static constexpr bool kTranspose = false;

  static F zero() { return _mm256_setzero_ps(); }
  static F load(const float *p) { return _mm256_loadu_ps(p); }
  static void store(float *p, F v) { _mm256_storeu_ps(p, v); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static float sum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
                          _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static F loadF16(const uint16_t *p) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
  }
  static F loadBF16(const uint16_t *p) {
    __m256i h = _mm256_cvtepu16_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
  }

  /// Rounds to the compute dtype and back (see KernelsAvx512.cpp).
  static F roundTo(F v, int compute, bool maybeNaN = true) {
    if (compute == kF16)
      return _mm256_cvtph_ps(
          _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (compute == kBF16) {
      __m256i u = _mm256_castps_si256(v);
      __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16),
                                     _mm256_set1_epi32(1));
      __m256i rounded = _mm256_add_epi32(
          u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
      if (!maybeNaN)
        return _mm256_castsi256_ps(
            _mm256_and_si256(rounded, _mm256_set1_epi32(int(0xffff0000u))));
      __m256i quiet = _mm256_or_si256(u, _mm256_set1_epi32(0x400000));
      __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
      rounded = _mm256_castps_si256(_mm256_blendv_ps(
          _mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet), nan));
      return _mm256_castsi256_ps(
          _mm256_and_si256(rounded, _mm256_set1_epi32(int(0xffff0000u))));
    }
    return v;
  }

  struct Table {
    __m256 lo, hi; // entries 0-7 and 8-15
  };
  static Table table(const float *codebook, float absmax, int compute,
                     bool finiteCodebook) {
    bool maybeNaN = !finiteCodebook || !finite(absmax);
    F a = set1(absmax);
    return {roundTo(_mm256_mul_ps(_mm256_loadu_ps(codebook), a), compute,
                    maybeNaN),
            roundTo(_mm256_mul_ps(_mm256_loadu_ps(codebook + 8), a), compute,
                    maybeNaN)};
  }
  static I loadNibbles(const uint8_t *p) {
    return _mm256_cvtepu8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p)));
  }
  /// Entry idx & 15, selecting the upper half where `bit3` has its sign set.
  static F lookup(const Table &t, I idx, I bit3) {
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.lo, idx),
                            _mm256_permutevar8x32_ps(t.hi, idx),
                            _mm256_castsi256_ps(bit3));
  }
  static F lookupHi(const Table &t, I q) {
    return lookup(t, _mm256_srli_epi32(q, 4), _mm256_slli_epi32(q, 24));
  }
  static F lookupLo(const Table &t, I q) {
    return lookup(t, q, _mm256_slli_epi32(q, 28));
  }

  static I izero() { return _mm256_setzero_si256(); }
  static I iadd(I a, I b) { return _mm256_add_epi32(a, b); }
  static I madd(I a, I b) { return _mm256_madd_epi16(a, b); }
  static I loadI8Pairs(const int8_t *p) {
    return _mm256_cvtepi8_epi16(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
  }
  static I loadI16(const int16_t *p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
  }
  static I bcast32(int32_t v) { return _mm256_set1_epi32(v); }
  static int32_t isum(I v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
  }
  static void storeI(int32_t *p, I v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), v);
  }
};

} // namespace

const KernelSet &avx2Kernels() {
  static const KernelSet set{linear4bit<Avx2>, matmul<Avx2>, int8<Avx2>};
  return set;
}

} // namespace bnb::rt::uk
