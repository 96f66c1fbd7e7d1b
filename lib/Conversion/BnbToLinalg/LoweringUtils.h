//===- LoweringUtils.h - shared pieces of the bnb -> linalg lowering -*- C++ -*-===//

#ifndef BNB_LIB_CONVERSION_BNBTOLINALG_LOWERINGUTILS_H
#define BNB_LIB_CONVERSION_BNBTOLINALG_LOWERINGUTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::bnb::lowering {

/// An f32 constant.
Value f32Constant(OpBuilder &b, Location loc, float value);
/// An index constant.
Value indexConstant(OpBuilder &b, Location loc, int64_t value);

/// A 1-D constant tensor holding `values`, for lookups with tensor.extract.
Value f32TableConstant(OpBuilder &b, Location loc, ArrayRef<float> values);

/// Flattens a tensor to 1-D (row-major); rank 0 becomes [1].
Value flatten(OpBuilder &b, Location loc, Value tensor);

/// Reshapes a flat 1-D tensor to `type`.
Value unflatten(OpBuilder &b, Location loc, Value flat, RankedTensorType type);

/// Reinterprets the bytes of a tensor as another 8-bit integer type.
Value bitcastBytes(OpBuilder &b, Location loc, Value tensor, Type elementType);

/// A parallel linalg.generic over a `shape`-shaped index space with no inputs
/// that yields `body(indices)` into a new tensor of `elementType`.
Value generateTensor(
    OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elementType,
    ValueRange dynamicSizes,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body);

/// The per-block absmax of bitsandbytes' blockwise kernels over the flat
/// tensor `flat` of `n` elements: the largest |x| over non-NaN elements,
/// starting from -FLT_MAX, with the zero padding of a partial last block
/// taking part.
Value blockAbsmax(OpBuilder &b, Location loc, Value flat, int64_t n,
                  int64_t blocksize);

/// absmax[e / blocksize]: the statistic of element `e`'s block.
Value blockAbsmaxOf(OpBuilder &b, Location loc, Value absmax, Value e,
                    int64_t blocksize);

/// The code-book value `table[code]` for an i32 code: the CPU lowering's
/// table lookup for QuantCodegen.
Value lookup(OpBuilder &b, Location loc, Value table, Value code);

} // namespace mlir::bnb::lowering

#endif // BNB_LIB_CONVERSION_BNBTOLINALG_LOWERINGUTILS_H
