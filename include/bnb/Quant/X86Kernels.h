//===- X86Kernels.h - AVX-512 blockwise and row quantization ----*- C++ -*-===//
//
// Hand-vectorized AVX-512 versions of the hot loops of quantize4bit,
// computeAbsmax and the LLM.int8() weight quantization (quantizeRowwise with
// threshold 0). They produce the bytes of the portable paths exactly: the
// same block absmax rule (an integer max over magnitude bits, NaN excluded),
// the same reciprocal() and int8Scale(), the same f32 products, and codes as
// counts of the same strict comparisons (a branch-free binary search over
// the ascending thresholds counts exactly the thresholds below x). The
// portable paths in Blockwise.cpp and Int8.cpp call them when the CPU has
// AVX-512 (F, BW, VL, DQ) and fall back to their own loops otherwise.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_X86KERNELS_H
#define BNB_QUANT_X86KERNELS_H

#include "bnb/Support/DType.h"
#include "bnb/Quant/QuantType.h"

#include <cstddef>
#include <cstdint>

namespace bnb::quant::x86 {

/// True when this build has the kernels and the CPU runs them (AVX-512 F,
/// BW, VL and DQ). Set BNB_QUANT_PORTABLE=1 in the environment to force the
/// portable loops (read once, at the first call).
bool available();

/// True for the input dtypes the kernels take: F16, BF16, F32.
inline bool supports(DType dt) {
  return dt == DType::F16 || dt == DType::BF16 || dt == DType::F32;
}

/// 4-bit quantization of the full blocks [b0, b1) of `in` (elements of `dt`,
/// possibly unaligned): absmax[b] and the packed bytes of block b at
/// packed[b * blocksize / 2]. Every block must be complete (the partial last
/// block of a tensor stays on the portable path); `blocksize` is a multiple
/// of 16. Precondition: available() and supports(dt).
void quantize4bitBlocks(const void *in, DType dt, QuantType qt,
                        size_t blocksize, size_t b0, size_t b1, uint8_t *packed,
                        float *absmax);

/// 8-bit blockwise quantization (the dynamic map) of the full blocks
/// [b0, b1): absmax[b] and one code per element at codes[b * blocksize];
/// the codes are quantizeDynamic's 7-step search, done with gathers.
void quantizeDynamicBlocks(const void *in, DType dt, size_t blocksize,
                           size_t b0, size_t b1, uint8_t *codes, float *absmax);

/// absmax[b] of the full blocks [b0, b1), as quantize4bitBlocks computes it.
void absmaxBlocks(const void *in, DType dt, size_t blocksize, size_t b0,
                  size_t b1, float *absmax);

/// quantizeRowwise with threshold 0 of rows [r0, r1) of a row-major
/// [rows, cols] matrix of `dt` (rounded to fp16 first unless it is F16):
/// rowStats[r] and out[r * cols ...]. Any `cols`.
void quantizeRowsInt8(const void *in, DType dt, int64_t cols, int64_t r0,
                      int64_t r1, int8_t *out, float *rowStats);

} // namespace bnb::quant::x86

#endif // BNB_QUANT_X86KERNELS_H
