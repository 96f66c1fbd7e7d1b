//===- KernelsRepackedAvx512Bf16.cpp - bf16 GEMV on repacked weights ------===//
//
// Compiled with the flags of KernelsAvx512Bf16.cpp. Per block of the 16
// interleaved rows: x's 32 even and 32 odd bf16 elements are loaded once,
// and each row builds its 32-entry bf16 table with vcvtne2ps2bf16 (exact:
// the group's absmaxes all pass bf16TableThreshold, else the group takes
// the row kernel with its exact fallback), looks its 64 codes up with two
// vpermw and adds two vdpbf16ps into its one accumulator. Numerics are the
// row kernel's (KernelsAvx512Bf16.cpp) but for the order of the f32 sums.
//
//===----------------------------------------------------------------------===//

#include "KernelsAvx512Bf16.h"
#include "RepackedGroup.h"

namespace bnb::rt::uk {
namespace {

/// One group of kRepackRows rows into out[g * kRepackRows, +kRepackRows).
void group(const RepackedGemvProblem &q, int64_t g) {
  const __m512 codebook = _mm512_loadu_ps(q.p.codebook);
  auto block = [&](int64_t b, const uint8_t *w, const float *absmax,
                   __m512(&acc)[kRepackRows]) {
    const __m512bh xe =
        reinterpret_cast<__m512bh>(_mm512_loadu_si512(q.p.xEvenBf16 + 32 * b));
    const __m512bh xo =
        reinterpret_cast<__m512bh>(_mm512_loadu_si512(q.p.xOddBf16 + 32 * b));
#pragma GCC unroll 16
    for (int i = 0; i < kRepackRows; ++i) {
      const __m512 t = _mm512_mul_ps(codebook, _mm512_set1_ps(absmax[i]));
      // [T, T]: vpermw reads 5 index bits, so the low nibble needs no mask.
      const __m512i table =
          reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(t, t));
      const __m512i codes16 = _mm512_cvtepu8_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + 32 * i)));
      const __m512bh hi = reinterpret_cast<__m512bh>(
          _mm512_permutexvar_epi16(_mm512_srli_epi16(codes16, 4), table));
      const __m512bh lo =
          reinterpret_cast<__m512bh>(_mm512_permutexvar_epi16(codes16, table));
      acc[i] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[i], hi, xe), lo, xo);
    }
  };
  repackedGroup(q, g, block);
}

} // namespace

void avx512Bf16RepackedGemv(const RepackedGemvProblem &q, int64_t n0,
                            int64_t n1) {
  const uint32_t threshold = bf16TableThreshold(q.p.codebook);
  const int64_t g0 = n0 / kRepackRows;
  const int64_t g1 = std::min(n1 / kRepackRows, q.r->groups);
  for (int64_t g = g0; g < g1; ++g) {
    if (q.r->minMagnitude[g] >= threshold)
      group(q, g);
    else
      avx512Bf16Linear4bit(q.p, g * kRepackRows, (g + 1) * kRepackRows);
  }
  const int64_t rest = std::max(n0, g1 * kRepackRows);
  if (rest < n1)
    avx512Bf16Linear4bit(q.p, rest, n1);
}

} // namespace bnb::rt::uk
