//===- KernelsRepacked.h - GEMV on repacked 4-bit weights ----*- C++ -*-===//
//
// Entry points of KernelsRepackedAvx512.cpp (compute dtype f32 or f16) and
// KernelsRepackedAvx512Bf16.cpp (bf16, vdpbf16ps). Dispatch.cpp calls them
// for one row of x at the avx512 level (the bf16 one on a CPU with
// avx512_bf16) when repacked4bit() has a copy of the weight.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_KERNELSREPACKED_H
#define BNB_RUNTIME_LIB_UKERNELS_KERNELSREPACKED_H

#include "Repacked4bit.h"

namespace bnb::rt::uk {

/// A batch-1 4-bit linear and the repacked copy of its weight.
struct RepackedGemvProblem {
  /// M == 1, fastPath(), xEven/xOdd set (and xEvenBf16/xOddBf16 for bf16).
  Linear4bitProblem p;
  const Repacked4bit *r = nullptr;
};

/// out[0, n0:n1) with compute dtype f32 or f16 (FMAs on the f32 x); n0 a
/// multiple of kRepackRows. Rows past the repacked groups take the AVX-512
/// row kernel on the original layout.
void avx512RepackedGemv(const RepackedGemvProblem &q, int64_t n0, int64_t n1);

/// out[0, n0:n1) with compute dtype bf16 (vdpbf16ps on the bf16 x); n0 a
/// multiple of kRepackRows. Rows past the repacked groups, and groups whose
/// tables vcvtneps2bf16 would flush, take avx512Bf16Linear4bit.
void avx512Bf16RepackedGemv(const RepackedGemvProblem &q, int64_t n0,
                            int64_t n1);

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_KERNELSREPACKED_H
