//===- Reference.h - golden-model linear layers -----------------*- C++ -*-===//
//
// CPU reference implementations of bitsandbytes' quantized linear layers,
// composed from the primitives in Blockwise.h and Int8.h. They reproduce the
// CUDA path bit for bit wherever bnb-numerics §9 says that is possible; where
// bitsandbytes calls cuBLAS (the LLM.int8() outlier product, the 4-bit
// fallback GEMM) the summation order is fixed here as: products of the two
// operand values computed in f32, accumulated with fmaf in f32 over k
// ascending, then one rounding to the output type. A GPU GEMM sums in another
// order; see docs/numerics.md for the tolerance that makes comparisons sound.
//
// All matrices are row-major; x is [m, k], weights are [n, k] (nn.Linear
// layout), y is [m, n]. No pointer needs to be aligned.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_REFERENCE_H
#define BNB_QUANT_REFERENCE_H

#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/DType.h"

#include <cstdint>

namespace bnb::quant {

/// bnb.nn.Linear8bitLt.forward with an int8 weight (CB [n, k], SCB [n]),
/// i.e. MatMul8bitLt.forward (bnb-numerics §1.1-1.7). x and y have dtype
/// `xdt` (F16, BF16 or F32); `bias` (nullable) has `biasDt` and is first cast
/// to `xdt`, as Linear8bitLt does before the matmul.
///  1. A16 = f16(x); with threshold > 0 the outlier columns of A16 are found
///     and CA, SCA = quantizeRowwise(A16, threshold) (outlier columns zeroed).
///  2. C = int8Matmul(CA, CB); out16 = dequantizeInt8(C, SCA, SCB, bias if
///     xdt is F16 else none); for other dtypes out16 = f16(f32(out16) +
///     f32(bias)).
///  3. out = xdt(out16).
///  4. With outlier columns O: W_O = xdt(dequantizeInt8Weight(CB)[:, O]) and
///     y = xdt(f32(sum_{o in O ascending} x[:, o] * W_O[:, o]) + f32(out)):
///     the cuBLAS addmm(out, x[:, O], W_O^T) with f32 compute.
void linearInt8Reference(const void *x, DType xdt, int64_t m, int64_t k,
                         const int8_t *cb, const float *scb, int64_t n,
                         const void *bias, DType biasDt, float threshold,
                         void *y);

/// Linear8bitLt with has_fp16_weights semantics: the float weight `w`
/// ([n, k] of `wdt`) is cast to fp16 and quantized with quantizeRowwise
/// (threshold 0), then linearInt8Reference runs.
void linearInt8FromFloatWeight(const void *x, DType xdt, int64_t m, int64_t k,
                               const void *w, DType wdt, int64_t n,
                               const void *bias, DType biasDt, float threshold,
                               void *y);

/// bnb.nn.Linear4bit.forward as bitsandbytes >= 0.50 computes it on the
/// dequantize-then-GEMM path: x is cast to `computeDt` (F16, BF16 or F32),
/// the weight is dequantized directly to `computeDt`
/// (T(f32(code * absmax))), y[i, j] = T(f32(sum_k x[i, k] * w[j, k]) +
/// f32(T(bias[j]))) with the summation described in the file comment and the
/// bias (nullable, `biasDt`) cast to the compute dtype and added in f32
/// before the single rounding to T, and the result is cast to `xdt`.
void linear4bitReference(const void *x, DType xdt, int64_t m, int64_t k,
                         const uint8_t *packed, const float *absmax,
                         QuantType qt, int64_t blocksize, int64_t n,
                         const void *bias, DType biasDt, DType computeDt,
                         void *y);

/// linear4bitReference with double-quantized absmax: the absmax values are
/// first reconstructed with reconstructAbsmax (unfused, two roundings).
void linear4bitReferenceNested(const void *x, DType xdt, int64_t m, int64_t k,
                               const uint8_t *packed,
                               const uint8_t *absmaxCodes,
                               const float *nestedAbsmax, float offset,
                               QuantType qt, int64_t blocksize, int64_t n,
                               const void *bias, DType biasDt, DType computeDt,
                               void *y);

/// y[i, j] = outDt(f32(sum_k a[i, k] * b[j, k]) + f32(bias[j])) with `a`
/// [m, k] and `b` [n, k] of `dt` and f32 products accumulated by fmaf over k
/// ascending: the GEMM model the references share (bias nullable, of `dt`).
void referenceGemm(const void *a, const void *b, DType dt, int64_t m, int64_t n,
                   int64_t k, const void *bias, DType outDt, void *y);

} // namespace bnb::quant

#endif // BNB_QUANT_REFERENCE_H
