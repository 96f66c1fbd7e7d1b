//===- HostUtils.h - host-side glue for bnb kernel launches -------*- C++ -*-===//
//
// Tensor-level host code around a kernel launch: operands become 1-D
// read-only buffers through bufferization.to_buffer, results are fresh
// memref.alloc buffers returned through bufferization.to_tensor restrict, so
// that one-shot bufferization later handles everything else.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_BNBTOGPU_HOSTUTILS_H
#define BNB_CONVERSION_BNBTOGPU_HOSTUTILS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::bnb::gpu {

/// The tensor `tensor` as a kernel argument: collapsed to 1-D, turned into a
/// read-only identity-layout buffer and cast to `memref<?xT>`.
Value kernelInput(OpBuilder &b, Location loc, Value tensor);

/// A fresh result buffer and the 1-D kernel argument aliasing it.
struct KernelOutput {
  Value buffer;
  Value arg;
};

/// Allocates the buffer of a result of type `type`; `dynamicSizes` gives its
/// dynamic dimensions in order.
KernelOutput allocOutput(OpBuilder &b, Location loc, RankedTensorType type,
                         ValueRange dynamicSizes);

/// Allocates a `memref<?xT>` work buffer of `count` elements.
Value allocScratch(OpBuilder &b, Location loc, Type elementType, Value count);

/// The tensor holding the contents of result buffer `buffer` (restrict,
/// writable).
Value outputTensor(OpBuilder &b, Location loc, Value buffer);

/// Launches `kernel` on a `gridX` x `gridY` grid of blocks of its known block
/// size, with `dynamicSharedBytes` of dynamic shared memory when given.
void launch(OpBuilder &b, Location loc, ::mlir::gpu::GPUFuncOp kernel,
            Value gridX, Value gridY, ValueRange args,
            Value dynamicSharedBytes = {});

/// An index constant.
Value hostIndex(OpBuilder &b, Location loc, int64_t value);

/// ceil(a / divisor) on index values.
Value hostCeilDiv(OpBuilder &b, Location loc, Value a, int64_t divisor);

/// The number of elements of `tensor`, as an index.
Value hostNumElements(OpBuilder &b, Location loc, Value tensor);

/// The product of all but the last dimension of `tensor` (the rows M of a
/// [..., K] activation), as an index.
Value hostLeadingRows(OpBuilder &b, Location loc, Value tensor);

/// The dynamic dimension sizes of `like` in order (for results shaped like
/// an operand).
SmallVector<Value> hostDynamicSizes(OpBuilder &b, Location loc, Value like);

} // namespace mlir::bnb::gpu

#endif // BNB_CONVERSION_BNBTOGPU_HOSTUTILS_H
