//===- KernelsAvx512Bf16.h - AVX512-BF16 4-bit GEMV -------------*- C++ -*-===//
//
// Entry points of KernelsAvx512Bf16.cpp. Dispatch.cpp calls them only at
// the avx512 level on a CPU with avx512_bf16 (see that file for when).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512BF16_H
#define BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512BF16_H

#include "Kernels.h"

namespace bnb::rt::uk {

/// Splits x [M, K] (f32 holding bf16 values, K a multiple of 32) into bf16
/// even and odd elements, [M][K/2] each.
void avx512Bf16SplitX(const float *x, int64_t M, int64_t K, uint16_t *even,
                      uint16_t *odd);

/// 4-bit GEMV with compute dtype bf16 over columns [n0, n1): needs
/// p.fastPath(), p.M <= kGemvMaxRows, and xEven/xOdd and xEvenBf16/xOddBf16.
void avx512Bf16Linear4bit(const Linear4bitProblem &p, int64_t n0, int64_t n1);

/// The bits of the smallest |absmax| whose block table vcvtneps2bf16 rounds
/// exactly with this codebook (no product of a nonzero code below 2^-126);
/// 0 when every absmax qualifies. A block qualifies when its |absmax| is at
/// least this, zero or NaN.
uint32_t bf16TableThreshold(const float *codebook);

/// Blocks that took the exact (denormal table) fallback so far; read with
/// __atomic_load_n. For the unit tests.
extern uint64_t bf16GemvFallbackBlocks;

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512BF16_H
