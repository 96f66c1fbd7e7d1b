//===- KernelsRepackedAvx512.cpp - f32/f16 GEMV on repacked weights -------===//
//
// Compiled with the AVX-512 flags of KernelsAvx512.cpp. Per block of the 16
// interleaved rows: x's 32 even and 32 odd f32 elements are loaded once
// into four registers, and each row builds its table
// T(codebook * absmax) (T: f32, or f16 by vcvtps2ph, as the row kernel
// does), looks its 64 codes up with four vpermps and adds four FMAs into its
// one accumulator. Each output is that accumulator's 16 lanes summed by
// _mm512_reduce_add_ps: an order fixed by the problem.
//
//===----------------------------------------------------------------------===//

#include "RepackedGroup.h"

namespace bnb::rt::uk {
namespace {

/// One group of kRepackRows rows into out[g * kRepackRows, +kRepackRows).
template <int C> void group(const RepackedGemvProblem &q, int64_t g) {
  const __m512 codebook = _mm512_loadu_ps(q.p.codebook);
  auto block = [&](int64_t b, const uint8_t *w, const float *absmax,
                   __m512(&acc)[kRepackRows]) {
    const float *xe = q.p.xEven + 32 * b, *xo = q.p.xOdd + 32 * b;
    const __m512 xe0 = _mm512_loadu_ps(xe), xe1 = _mm512_loadu_ps(xe + 16);
    const __m512 xo0 = _mm512_loadu_ps(xo), xo1 = _mm512_loadu_ps(xo + 16);
#pragma GCC unroll 16
    for (int i = 0; i < kRepackRows; ++i) {
      __m512 table = _mm512_mul_ps(codebook, _mm512_set1_ps(absmax[i]));
      if constexpr (C == kF16)
        table = _mm512_cvtph_ps(_mm512_cvtps_ph(
            table, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      const __m512i q0 = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(w + 32 * i)));
      const __m512i q1 = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(w + 32 * i + 16)));
      // vpermps reads the low 4 index bits: the low nibble needs no mask.
      __m512 a = acc[i];
      a = _mm512_fmadd_ps(
          _mm512_permutexvar_ps(_mm512_srli_epi32(q0, 4), table), xe0, a);
      a = _mm512_fmadd_ps(_mm512_permutexvar_ps(q0, table), xo0, a);
      a = _mm512_fmadd_ps(
          _mm512_permutexvar_ps(_mm512_srli_epi32(q1, 4), table), xe1, a);
      a = _mm512_fmadd_ps(_mm512_permutexvar_ps(q1, table), xo1, a);
      acc[i] = a;
    }
  };
  repackedGroup(q, g, block);
}

} // namespace

void avx512RepackedGemv(const RepackedGemvProblem &q, int64_t n0, int64_t n1) {
  const int64_t g0 = n0 / kRepackRows;
  const int64_t g1 = std::min(n1 / kRepackRows, q.r->groups);
  for (int64_t g = g0; g < g1; ++g) {
    if (q.p.compute == kF16)
      group<kF16>(q, g);
    else
      group<kF32>(q, g);
  }
  const int64_t rest = std::max(n0, g1 * kRepackRows);
  if (rest < n1)
    avx512Kernels().linear4bit(q.p, rest, n1);
}

} // namespace bnb::rt::uk
