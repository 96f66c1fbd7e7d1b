//===- KernelsAvx512Vnni.h - AVX512-VNNI int8 GEMM --------------*- C++ -*-===//
//
// Entry points of KernelsAvx512Vnni.cpp: the int8 GEMM (LLM.int8()'s
// product) of a CPU with AVX512-VNNI where AMX is not used (AMD Zen 4, Intel
// Ice Lake and Cascade Lake). Dispatch.cpp calls them at the avx512 level on
// such a CPU from kVnniGemmMinRows rows, after it has packed a once per call
// with avx512VnniPackRows.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512VNNI_H
#define BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512VNNI_H

#include "Kernels.h"

namespace bnb::rt::uk {

/// Fewest rows of a that take the GEMM rather than the vpmaddwd GEMV.
/// Measured on an AMD Zen 4 VM at 11008 x 4096 in cache: 2.7 against 4.0 ms
/// at 4 rows, 5.0 against 13-15 ms at 16.
constexpr int64_t kVnniGemmMinRows = 4;

/// Bytes of one packed row of a: K rounded up to a multiple of 4.
inline int64_t vnniRowLength(int64_t K) { return (K + 3) / 4 * 4; }

/// Packs a i8 [M, K] as unsigned bytes a + 128, [M][vnniRowLength(K)], the
/// padding zero (it meets zero weights).
void avx512VnniPackRows(const int8_t *a, int64_t M, int64_t K, uint8_t *dst);

/// An int8 product with a packed by avx512VnniPackRows.
struct VnniInt8Problem {
  Int8Problem p;
  const uint8_t *a = nullptr;
};

/// int8 product over columns [n0, n1) (vpdpbusd).
void avx512VnniInt8(const VnniInt8Problem &p, int64_t n0, int64_t n1);

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512VNNI_H
