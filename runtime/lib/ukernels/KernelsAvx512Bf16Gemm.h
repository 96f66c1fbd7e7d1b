//===- KernelsAvx512Bf16Gemm.h - AVX512-BF16 GEMM ---------------*- C++ -*-===//
//
// Entry points of KernelsAvx512Bf16Gemm.cpp: the bf16-compute GEMM of a
// CPU with AVX512-BF16 but no AMX (AMD Zen 4, Intel Cooper Lake), or where
// AMX is not used. Dispatch.cpp calls them at the avx512 level on such a CPU,
// from kBf16GemmMin4bitRows / kBf16GemmMinBf16Rows rows of x, after it has
// packed x once per call with avx512Bf16PackRows (see the .cpp for the
// numerics).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512BF16GEMM_H
#define BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512BF16GEMM_H

#include "Kernels.h"

namespace bnb::rt::uk {

/// Fewest rows of x for which a 4-bit linear takes the GEMM rather than
/// the GEMV, whose passes take four rows each. Measured on an AMD Zen 4 VM
/// at 11008 x 4096 in cache: the GEMM costs about the same from 4 to 8
/// rows (4.3-4.7 ms), one GEMV pass of 4 rows 3.0 ms, two passes (8 rows)
/// 6.3 ms; at 16 rows 6.6-7.0 ms against 14.1 ms.
constexpr int64_t kBf16GemmMin4bitRows = 6;

/// Fewest rows of x for which a bf16-weight matmul takes the GEMM: the f32
/// GEMV over bf16 weights took 8.2 ms at 4 rows where the GEMM took 5.5 ms
/// (same machine and shape).
constexpr int64_t kBf16GemmMinBf16Rows = 3;

/// Elements of one packed row of x: K rounded up to even.
inline int64_t bf16PairRowLength(int64_t K) { return K + (K & 1); }

/// Packs x f32 [M, K] into bf16 [M][bf16PairRowLength(K)] (a zero pad
/// element for odd K), so that each dword holds the k pair 2j, 2j + 1.
/// Returns false when some element of x is not exactly a bf16 value; `dst`
/// is then unusable and the caller takes another path.
bool avx512Bf16PackRows(const float *x, int64_t M, int64_t K, uint16_t *dst);

/// A 4-bit linear with compute dtype bf16 and p.fastPath(), x packed by
/// avx512Bf16PackRows.
struct Bf16GemmLinear4bitProblem {
  Linear4bitProblem p;
  const uint16_t *x = nullptr;
};

/// A matmul with bf16 weights [N, K] (transposed), x packed by
/// avx512Bf16PackRows.
struct Bf16GemmMatmulProblem {
  MatmulProblem p;
  const uint16_t *x = nullptr;
};

/// 4-bit linear over columns [n0, n1) (vdpbf16ps).
void avx512Bf16GemmLinear4bit(const Bf16GemmLinear4bitProblem &p, int64_t n0,
                              int64_t n1);

/// bf16-weight matmul over columns [n0, n1) (vdpbf16ps).
void avx512Bf16GemmMatmul(const Bf16GemmMatmulProblem &p, int64_t n0,
                          int64_t n1);

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_KERNELSAVX512BF16GEMM_H
