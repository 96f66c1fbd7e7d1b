//===- Kernels.h - bnb kernel families and their patterns ---------*- C++ -*-===//
//
// Internal interface between the bnb-to-GPU pass and the files that generate
// each kernel family: the target description, the decode helpers shared by
// the 4-bit kernels, and one pattern populator per family.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_BNBTOGPU_KERNELS_H
#define BNB_CONVERSION_BNBTOGPU_KERNELS_H

#include "KernelBuilder.h"

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"

namespace mlir {
class RewritePatternSet;
namespace bnb::gpu {

/// What the kernels are specialized for.
struct GPUTarget {
  /// "sm_80", "sm_90", ...
  std::string chip;
  /// Streaming multiprocessors of the reference part of the chip (A100: 108,
  /// H100 SXM: 132); used to size grids.
  int64_t numSMs = 132;

  /// The target for `chip`; unknown chips get conservative defaults.
  static GPUTarget get(StringRef chip);
};

/// A short name of a float type for kernel names: f16, bf16, f32.
std::string typeTag(Type type);

/// The IEEE f32 bit patterns of `values`, as constant tables hold them.
SmallVector<uint32_t> f32BitPatterns(ArrayRef<float> values);

/// The f32 value of 4-bit code `code` (i32) of `quantType`, from a constant
/// table.
Value lookupCode4bit(KernelBuilder &b, QuantType quantType, Value code);

/// The f32 value of 8-bit code `code` (i32) of the signed dynamic map.
Value lookupDynamicMap(KernelBuilder &b, Value code);

/// lookupDynamicMap as the table lookup QuantCodegen's emitters take.
struct DynamicMapLookup {
  KernelBuilder &builder;
  Value operator()(OpBuilder &, Location, Value code) const {
    return lookupDynamicMap(builder, code);
  }
};

/// Patterns for dequantize_4bit, quantize_4bit, quantize_blockwise and
/// dequantize_blockwise.
void populateBlockwisePatterns(RewritePatternSet &patterns,
                               const GPUTarget &target);

/// Patterns for quantize_rowwise, outlier_split, int8_matmul and
/// dequantize_int8.
void populateInt8PrimitivePatterns(RewritePatternSet &patterns,
                                   const GPUTarget &target);

/// The pattern for linear_4bit.
void populateLinear4bitPatterns(RewritePatternSet &patterns,
                                const GPUTarget &target);

/// The pattern for linear_int8.
void populateLinearInt8Patterns(RewritePatternSet &patterns,
                                const GPUTarget &target);

} // namespace bnb::gpu
} // namespace mlir

#endif // BNB_CONVERSION_BNBTOGPU_KERNELS_H
