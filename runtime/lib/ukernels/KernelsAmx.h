//===- KernelsAmx.h - AMX GEMM microkernels ---------------------*- C++ -*-===//
//
// Entry points of KernelsAmx.cpp (see that file for the numerics). The
// dispatcher calls them only at the amx level (Isa::Amx), for at least
// kAmxMinRows rows of x, after it has packed x (or a) into A tiles once per
// call with amxPackBF16Rows / amxPackI8Rows.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_KERNELSAMX_H
#define BNB_RUNTIME_LIB_UKERNELS_KERNELSAMX_H

#include "Kernels.h"

namespace bnb::rt::uk {

/// Fewest rows of x that take the AMX GEMM; fewer take the avx512 kernels.
constexpr int64_t kAmxMinRows = 16;

/// Bytes of the A tiles of an [M, K] operand whose elements have
/// `elementBytes` (2: bf16, 1: int8): M rounded up to 16 rows, K to 64
/// bytes, zero-padded.
size_t amxTileBytes(int64_t M, int64_t K, int elementBytes);

/// Packs x f32 [M, K] into bf16 A tiles (amxTileBytes(M, K, 2) bytes).
/// Returns false when some element of x is not exactly a bf16 value; the
/// tiles are then unusable and the caller takes another path.
bool amxPackBF16Rows(const float *x, int64_t M, int64_t K, void *tiles);

/// Packs a i8 [M, K] into A tiles (amxTileBytes(M, K, 1) bytes).
void amxPackI8Rows(const int8_t *a, int64_t M, int64_t K, void *tiles);

/// A 4-bit linear with compute dtype bf16 and p.fastPath(), with x packed
/// by amxPackBF16Rows.
struct AmxLinear4bitProblem {
  Linear4bitProblem p;
  const void *aTiles = nullptr;
};

/// A bf16-weight matmul, with x packed by amxPackBF16Rows.
struct AmxMatmulProblem {
  MatmulProblem p;
  const void *aTiles = nullptr;
};

/// An int8 product, with a packed by amxPackI8Rows.
struct AmxInt8Problem {
  Int8Problem p;
  const void *aTiles = nullptr;
};

/// 4-bit linear over columns [n0, n1) (TDPBF16PS).
void amxLinear4bit(const AmxLinear4bitProblem &p, int64_t n0, int64_t n1);

/// bf16 matmul over columns [n0, n1) (TDPBF16PS).
void amxMatmulBF16(const AmxMatmulProblem &p, int64_t n0, int64_t n1);

/// int8 product over columns [n0, n1) (TDPBSSD).
void amxInt8(const AmxInt8Problem &p, int64_t n0, int64_t n1);

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_KERNELSAMX_H
