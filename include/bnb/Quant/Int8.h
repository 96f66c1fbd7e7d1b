//===- Int8.h - LLM.int8() numerics -----------------------------*- C++ -*-===//
//
// bitsandbytes' LLM.int8() primitives (bnb-numerics §1): row-wise ("vector-
// wise") int8 quantization with outlier exclusion, the exact int8 matmul, and
// the fp16 dequantization of its int32 result.
//
// Threshold comparisons follow the CUDA code exactly; they coincide whenever
// the threshold is representable in fp16 (6.0 always is):
//  * row absmax excludes elements with !(|a| < f16(threshold)) (the kernel
//    compares in half precision);
//  * an element is written as 0 when !(|a| < threshold) in f32 (the kernel's
//    quantization loop), and a column is an outlier column when some
//    |a| >= threshold in f32 (the Python wrapper).
// The scale is the CUDA kernel's __fdividef(127.0f, absmax), which PTX
// defines as 127 * (1 / absmax) (div.approx.f32): a reciprocal, then a
// rounded multiply. It is not an IEEE division: the two differ for about a
// quarter of fp16 absmax values. The reciprocal is the correctly rounded one
// (same policy as reciprocal() in Blockwise.h; the GPU's approximate
// reciprocal is within 1 ulp of it).
// Values are rounded half to even and converted the way cvt.rni.s32.f32
// does it (NaN -> 0, saturation to int32), then truncated to int8.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_INT8_H
#define BNB_QUANT_INT8_H

#include "bnb/Support/DType.h"

#include <cstdint>
#include <vector>

namespace llvm {
class ThreadPoolInterface;
} // namespace llvm

namespace bnb::quant {

/// The dequantization constant of the CUDA kernel, f32(1/127^2) (bits
/// 0x38820610).
constexpr float kInt8MatmulDequantScale = 6.200012e-05f;

/// f32(1/127) (bits 0x3c010204), int8_vectorwise_dequant's constant.
constexpr float kInt8WeightDequantScale = 7.874015718698502e-3f;

/// The row scale, __fdividef(127.0f, absmax) of the CUDA kernel: 127 times the
/// reciprocal, each rounded to f32. A zero row gives +inf.
inline float int8Scale(float absmax) {
  float inverse = 1.0f / absmax;
  return 127.0f * inverse;
}

/// Rounds `v` half to even and converts it to int8 the way the CUDA kernel
/// stores __float2int_rn(v) into an int8: NaN gives 0, values beyond int32
/// saturate, and the int32 is truncated to its low 8 bits.
int8_t roundToInt8(float v);

/// bitsandbytes int8_vectorwise_quant on a row-major [rows, cols] fp16
/// matrix (bits in `f16`): rowStats[r] = max |a| over the row's elements
/// that are not NaN and not outliers (+0.0 when there is none; CUDA starts
/// from -0.0, which only changes the sign of such a zero), out = int8 codes
/// of a * 127 / rowStats[r]. When threshold > 0, outlier elements are written
/// as 0 and then every outlier column (see outlierColumns) is zeroed in all
/// rows. A zero row quantizes to zeros. `threshold` must be >= 0.
void quantizeRowwise(const uint16_t *f16, int64_t rows, int64_t cols,
                     float threshold, int8_t *out, float *rowStats);

/// quantizeRowwise of an [rows, cols] matrix of any floating dtype at
/// possibly unaligned `in`, first rounded to fp16 element by element (as
/// bitsandbytes casts activations and weights with .to(float16)); rows are
/// processed in parallel on `pool` when given.
void quantizeRowwise(const void *in, DType dt, int64_t rows, int64_t cols,
                     float threshold, int8_t *out, float *rowStats,
                     llvm::ThreadPoolInterface *pool = nullptr);

/// The columns of a row-major [rows, cols] fp16 matrix holding an element
/// with |a| >= threshold (f32 comparison; NaN never qualifies), ascending.
/// Empty when threshold <= 0.
std::vector<int64_t> outlierColumns(const uint16_t *f16, int64_t rows,
                                    int64_t cols, float threshold);

/// c[m, n] = a[m, k] * b[n, k]^T with exact integer arithmetic. The sum is
/// accumulated in int64 and reduced modulo 2^32 (two's complement wrap-around,
/// what an int32 accumulator does); sums of int8 products cannot overflow
/// int32 for k <= 131071, and quantized codes (|q| <= 127) for k <= 133143.
void int8Matmul(const int8_t *a, const int8_t *b, int64_t m, int64_t n,
                int64_t k, int32_t *c);

/// The CUDA kernel kdequant_mm_int32_fp16:
///   out[i, j] = f16(fmaf(f32(f32(float(c[i, j]) * rowStats[i]) *
///                            colStats[j]), 6.200012e-05f, bias[j]))
/// with bias 0 when `biasF16` is null. All arrays row-major [m, n].
void dequantizeInt8(const int32_t *c, const float *rowStats,
                    const float *colStats, const uint16_t *biasF16, int64_t m,
                    int64_t n, uint16_t *outF16);

/// int8_vectorwise_dequant: out[r, c] = f32(f32(float(cb[r, c]) * scb[r]) *
/// 7.874015718698502e-3f).
void dequantizeInt8Weight(const int8_t *cb, const float *scb, int64_t rows,
                          int64_t cols, float *out);

} // namespace bnb::quant

#endif // BNB_QUANT_INT8_H
