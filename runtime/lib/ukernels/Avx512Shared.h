//===- Avx512Shared.h - AVX-512 helpers of several kernel files -*- C++ -*-===//
//
// Lane masks and register-level helpers that the AVX-512 kernel files compiled with
// different -m flags share (KernelsAmx.cpp, KernelsAvx512Bf16.cpp,
// KernelsAvx512Bf16Gemm.cpp). Internal linkage only, as in KernelsSimd.h: each
// file gets its own copy compiled for its own instruction set, so the linker
// can never pick one file's copy for another.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_AVX512SHARED_H
#define BNB_RUNTIME_LIB_UKERNELS_AVX512SHARED_H

#include <cstdint>
#include <immintrin.h>

namespace bnb::rt::uk {
namespace {

inline int64_t minI64(int64_t a, int64_t b) { return a < b ? a : b; }

/// The mask of the first `n` lanes of 16 (none for n <= 0).
inline __mmask16 mask16(int64_t n) {
  return n >= 16 ? __mmask16(0xffff)
                 : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

/// The mask of the first `n` lanes of 32 (none for n <= 0).
inline __mmask32 mask32(int64_t n) {
  return n >= 32 ? __mmask32(0xffffffffu)
                 : n <= 0 ? __mmask32(0) : __mmask32((1u << n) - 1);
}

/// The mask of the first `n` lanes of 64 (none for n <= 0).
inline __mmask64 mask64(int64_t n) {
  return n >= 64 ? __mmask64(~0ull)
                 : n <= 0 ? __mmask64(0) : __mmask64((1ull << n) - 1);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC 12's unpack intrinsics pass a self-initialized _mm512_undefined_*
// value as the masked-off source, which -Wuninitialized reports.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
/// Transposes 16 rows of 16 dwords in place.
inline void transpose16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + e], 128-bit lane L: element 4L + e of rows 4i..4i+3.
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int e = 0; e < 4; ++e) {
    __m512i u0 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0x88);
    __m512i u1 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0xdd);
    __m512i u2 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0x88);
    __m512i u3 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0xdd);
    t[e] = _mm512_shuffle_i32x4(u0, u2, 0x88);
    t[8 + e] = _mm512_shuffle_i32x4(u0, u2, 0xdd);
    t[4 + e] = _mm512_shuffle_i32x4(u1, u3, 0x88);
    t[12 + e] = _mm512_shuffle_i32x4(u1, u3, 0xdd);
  }
  for (int i = 0; i < 16; ++i)
    r[i] = t[i];
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// bf16 rounding of f32 bits as f32ToBF16 does it (nearest even, denormals
/// kept, NaN kept NaN with the quiet bit set): the bf16 value in the high
/// half, garbage in the low half. `maybeNaN` false skips the NaN fix-up.
inline __m512i roundBF16(__m512 v, bool maybeNaN) {
  __m512i u = _mm512_castps_si512(v);
  __m512i lsb =
      _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i rounded =
      _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
  if (maybeNaN) {
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    rounded = _mm512_mask_mov_epi32(
        rounded, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
  }
  return rounded;
}

} // namespace
} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_AVX512SHARED_H
