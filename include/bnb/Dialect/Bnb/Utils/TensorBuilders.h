//===- TensorBuilders.h - small tensor-level IR builders -----------*- C++ -*-===//
//
// Helpers shared by the bnb expansions and lowerings: elementwise casts,
// 2-D views of batched activations, zero-filled inits.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_UTILS_TENSORBUILDERS_H
#define BNB_DIALECT_BNB_UTILS_TENSORBUILDERS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::bnb {

/// Converts a float scalar to `dstType` with one IEEE round-to-nearest-even
/// (f16 <-> bf16 goes through the exact f32 widening).
Value castFloatScalar(OpBuilder &b, Location loc, Value value, Type dstType);

/// Converts every element of a float tensor to `dstType` (a no-op when the
/// element type already matches).
Value castFloatTensor(OpBuilder &b, Location loc, Value tensor, Type dstType);

/// A tensor of `type` filled with zero.
Value zeroTensor(OpBuilder &b, Location loc, RankedTensorType type);

/// Collapses `[d0, ..., dn-1, K]` to `[d0·...·dn-1, K]`; rank-2 tensors are
/// returned unchanged and rank-1 `[K]` becomes `[1, K]`.
Value collapseTo2D(OpBuilder &b, Location loc, Value tensor);

/// Inverse of collapseTo2D: reshapes `[M, N]` to `type`.
Value expandFrom2D(OpBuilder &b, Location loc, Value tensor,
                   RankedTensorType type);

/// Transposes a 2-D tensor.
Value transpose2D(OpBuilder &b, Location loc, Value tensor);

/// A 2-D elementwise linalg.generic over `inputs` (read through
/// `inputMaps`) producing `resultType` from `body(args)`.
Value elementwise2D(OpBuilder &b, Location loc, RankedTensorType resultType,
                    ValueRange inputs, ArrayRef<AffineMap> inputMaps,
                    function_ref<Value(OpBuilder &, Location, ValueRange)> body);

/// Rounds an f32 accumulator `[M, N]` to `resultType` once, adding `bias`
/// (`[N]`, any float type, or null) in f32 first: `T(acc + f32(bias))`, as a
/// GEMM with f32 accumulation and a fused bias epilogue computes it.
Value roundAccumulator(OpBuilder &b, Location loc, Value acc, Value bias,
                       Type resultType);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_UTILS_TENSORBUILDERS_H
