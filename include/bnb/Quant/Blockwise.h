//===- Blockwise.h - NF4/FP4 and 8-bit blockwise quantization ---*- C++ -*-===//
//
// bitsandbytes' blockwise quantization, bit-exact with its CUDA kernels up to
// the reciprocal (see reciprocal() and docs/numerics.md):
//
//  * 4-bit (quantize_4bit): the row-major flattened input is cut into blocks
//    of `blocksize` elements (blocks may span rows); each block keeps its fp32
//    absmax; each element is normalized as x = f32(a * reciprocal(absmax)) and
//    mapped to a 4-bit NF4 or FP4 code with the kernels' thresholds; two codes
//    share a byte, the first (even) element in the high nibble.
//  * 8-bit (quantize_blockwise): the same blocks and normalization, codes are
//    indices into the signed dynamic map (kDynamicMap).
//  * double quantization: the 4-bit absmax array minus its mean, quantized
//    8-bit in blocks of 256.
//
// NaN and infinity are handled exactly as the CUDA kernels handle them (all
// derived from fmaxf ignoring NaN and IEEE arithmetic on the reciprocal):
//  * a block's absmax is the largest |a| over its non-NaN elements; a partial
//    last block also counts its zero padding, so it is never below 0; a full
//    block of NaNs keeps the kernel's start value -FLT_MAX;
//  * an infinite element makes absmax +inf and the reciprocal 0: finite
//    elements become ±0 (NF4 code 7, FP4 code 0 or 8), infinities become NaN;
//  * absmax 0 (an all-zero block) makes the reciprocal +inf: 0 * inf = NaN;
//  * a NaN normalized value gets code 0 (NF4 -1.0, FP4 +0.0; dynamic map
//    index 0), so an all-zero NF4 block packs to bytes 0x00 and dequantizes
//    to -0.0.
// An odd element count pads the last byte's low nibble with the code of
// 0 * reciprocal(absmax) -- 7 (NF4) or 0 (FP4), or 0 when that is NaN.
//
// No float-to-integer conversion of NaN or out-of-range values happens in
// this code: codes are counts of comparisons. Blocksizes are preconditions:
// one a function does not accept is a fatal error (llvm::report_fatal_error),
// also in builds without assertions.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_BLOCKWISE_H
#define BNB_QUANT_BLOCKWISE_H

#include "bnb/Support/DType.h"
#include "bnb/Support/Float16.h"
#include "bnb/Quant/QuantType.h"
#include "bnb/Quant/Tables.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace llvm {
class ThreadPoolInterface;
} // namespace llvm

namespace bnb::quant {

/// True for the 4-bit blocksizes bitsandbytes accepts: 32, 64, ..., 4096.
bool isValid4bitBlocksize(int64_t blocksize);

/// True for the 8-bit blockwise blocksizes the CUDA kernels accept:
/// 64, 128, ..., 4096.
bool isValidBlockwiseBlocksize(int64_t blocksize);

/// ceil(n / blocksize): the number of absmax values of `n` elements.
inline size_t numBlocks(size_t n, int64_t blocksize) {
  return (n + static_cast<size_t>(blocksize) - 1) /
         static_cast<size_t>(blocksize);
}

/// ceil(n / 2): bytes of `n` packed 4-bit codes.
inline size_t packedSize(size_t n) { return n / 2 + n % 2; }

/// 1 / absmax as the quantization kernels compute it. This is the single place
/// where that choice lives: IEEE-correct division, as bitsandbytes' CPU and
/// default backends and bnb-mlir's own generated kernels compute it. The CUDA
/// kernels use the approximate reciprocal of --use_fast_math (within 1 ulp),
/// which can move a value lying within about 1 ulp of a threshold to the
/// neighbouring code. Power-of-two absmax values are exact in both.
inline float reciprocal(float absmax) { return 1.0f / absmax; }

/// The NF4 code of a normalized value: #{k : x > kNF4Thresholds[k]}. Ties go
/// to the lower code, NaN to 0.
inline uint8_t quantizeNF4(float x) {
  unsigned code = 0;
  for (float threshold : kNF4Thresholds)
    code += x > threshold;
  return static_cast<uint8_t>(code);
}

/// The FP4 code of a normalized value: a sign bit (8 when x < 0, so -0.0 and
/// NaN get 0) and the magnitude code of |x| against kFP4Thresholds, ties to
/// the smaller magnitude. Tiny negatives (|x| <= 0.00260417) give 8 (-0).
inline uint8_t quantizeFP4(float x) {
  unsigned sign = x < 0.0f ? 8u : 0u;
  float magnitude = floatFromBits(floatBits(x) & 0x7fffffffu);
  unsigned rank = 0;
  for (float threshold : kFP4Thresholds)
    rank += magnitude > threshold;
  return static_cast<uint8_t>(fp4MagnitudeCode(rank) | sign);
}

/// The code of `qt` for a normalized value.
inline uint8_t quantize4bitValue(QuantType qt, float x) {
  return qt == QuantType::NF4 ? quantizeNF4(x) : quantizeFP4(x);
}

/// The index of the nearest kDynamicMap entry with f32 midpoints as
/// boundaries, a value exactly on a midpoint going to the even index; values
/// below code[0] give 0, above code[255] give 255, NaN gives 0. Computed with
/// the CUDA kernel's 7-step search, so it is the kernel's result by
/// construction.
uint8_t quantizeDynamic(float x);

/// absmax[b] of every block of `n` elements of `dt` at `in` (unaligned data
/// allowed), following the NaN and padding rules in the file comment.
void computeAbsmax(const void *in, DType dt, size_t n, int64_t blocksize,
                   float *absmax, llvm::ThreadPoolInterface *pool = nullptr);

/// Quantizes `n` elements of `dt` (F16, BF16 or F32; other types are
/// converted to float first) at `in` to 4-bit codes. Writes packedSize(n)
/// bytes to `packed` and numBlocks(n, blocksize) floats to `absmax`.
/// `blocksize` must satisfy isValid4bitBlocksize. `in` need not be aligned.
/// Blocks are processed in parallel on `pool` when given.
void quantize4bit(const void *in, DType dt, size_t n, QuantType qt,
                  int64_t blocksize, uint8_t *packed, float *absmax,
                  llvm::ThreadPoolInterface *pool = nullptr);

/// The same result as quantize4bit, computed element by element with
/// loadAsFloat, std::fmax and quantize4bitValue: a direct transcription of
/// the CUDA kernel, kept as the scalar baseline of the benchmarks and as an
/// independent formulation the optimized path is tested against.
void quantize4bitScalar(const void *in, DType dt, size_t n, QuantType qt,
                        int64_t blocksize, uint8_t *packed, float *absmax);

/// out[e] = outDt(f32(table[code(e)] * absmax[e / blocksize])) for the `n`
/// elements packed in `packed`; `out` need not be aligned.
void dequantize4bit(const uint8_t *packed, const float *absmax, size_t n,
                    QuantType qt, int64_t blocksize, DType outDt, void *out,
                    llvm::ThreadPoolInterface *pool = nullptr);

/// 8-bit blockwise quantization with the dynamic map: one code per element
/// (`n` bytes to `codes`), numBlocks(n, blocksize) floats to `absmax`.
/// `blocksize` must satisfy isValidBlockwiseBlocksize (the nested absmax
/// blocksize 256 does).
void quantizeBlockwise(const void *in, DType dt, size_t n, int64_t blocksize,
                       uint8_t *codes, float *absmax,
                       llvm::ThreadPoolInterface *pool = nullptr);

/// out[e] = outDt(f32(kDynamicMap[codes[e]] * absmax[e / blocksize])).
void dequantizeBlockwise(const uint8_t *codes, const float *absmax, size_t n,
                         int64_t blocksize, DType outDt, void *out);

/// Blocksize of the nested (double) quantization of absmax values.
constexpr int64_t kNestedBlocksize = 256;

/// Double-quantized absmax values: 8-bit codes into kDynamicMap, one fp32
/// nested absmax per 256 codes, and the subtracted mean.
struct NestedAbsmax {
  std::vector<uint8_t> codes;
  std::vector<float> nestedAbsmax;
  float offset = 0.0f;
};

/// The mean of `n` absmax values rounded to f32. Summation is in double, in
/// index order, then divided by n in double and rounded once to f32: exact
/// for any practical n (a double holds every partial sum of up to 2^29 f32
/// values of one binade exactly), so it is the correctly rounded mean of the
/// values up to one double rounding. torch's f32 reduction on the GPU may
/// differ in the last bit; checkpoints carry the offset, so loading never
/// recomputes it. Returns NaN for n == 0, like torch.
float absmaxMean(const float *absmax, size_t n);

/// bitsandbytes' compress_statistics: offset = absmaxMean(absmax), then the
/// f32 differences absmax[i] - offset quantized with quantizeBlockwise in
/// blocks of kNestedBlocksize.
NestedAbsmax doubleQuantize(const float *absmax, size_t nblocks,
                            llvm::ThreadPoolInterface *pool = nullptr);

/// out[i] = f32(f32(kDynamicMap[codes[i]] * nestedAbsmax[i / 256]) + offset):
/// two roundings, never a fused multiply-add, as dequantize_blockwise
/// followed by a separate add computes it.
void reconstructAbsmax(const uint8_t *codes, const float *nestedAbsmax,
                       float offset, size_t nblocks, float *out);

} // namespace bnb::quant

#endif // BNB_QUANT_BLOCKWISE_H
