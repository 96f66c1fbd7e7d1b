//===- HostUtils.cpp - host-side glue for bnb kernel launches -------------===//

#include "HostUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/Sequence.h"

using namespace mlir;
using namespace mlir::bnb::gpu;

Value mlir::bnb::gpu::hostIndex(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value mlir::bnb::gpu::hostCeilDiv(OpBuilder &b, Location loc, Value a,
                                  int64_t divisor) {
  return arith::CeilDivUIOp::create(b, loc, a, hostIndex(b, loc, divisor));
}

/// Collapses every dimension of a rank-`rank` shape into one (a rank-0
/// shape expands to one element: no reassociation group).
static SmallVector<ReassociationIndices> collapseToOneDim(int64_t rank) {
  SmallVector<ReassociationIndices> reassociation;
  if (rank > 0)
    reassociation.push_back(llvm::to_vector<2>(llvm::seq<int64_t>(0, rank)));
  return reassociation;
}

Value mlir::bnb::gpu::kernelInput(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getRank() != 1) {
    tensor = tensor::CollapseShapeOp::create(b, loc, tensor,
                                             collapseToOneDim(type.getRank()));
    type = cast<RankedTensorType>(tensor.getType());
  }
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  Value buffer = bufferization::ToBufferOp::create(b, loc, memrefType, tensor,
                                                   /*read_only=*/true);
  auto flat = MemRefType::get({ShapedType::kDynamic}, type.getElementType());
  if (memrefType == flat)
    return buffer;
  return memref::CastOp::create(b, loc, flat, buffer);
}

KernelOutput mlir::bnb::gpu::allocOutput(OpBuilder &b, Location loc,
                                         RankedTensorType type,
                                         ValueRange dynamicSizes) {
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  Value buffer = memref::AllocOp::create(b, loc, memrefType, dynamicSizes);
  Value flat = buffer;
  if (type.getRank() != 1)
    flat = memref::CollapseShapeOp::create(b, loc, buffer,
                                           collapseToOneDim(type.getRank()));
  auto flatType = MemRefType::get({ShapedType::kDynamic}, type.getElementType());
  if (flat.getType() != flatType)
    flat = memref::CastOp::create(b, loc, flatType, flat);
  return {buffer, flat};
}

Value mlir::bnb::gpu::allocScratch(OpBuilder &b, Location loc,
                                   Type elementType, Value count) {
  auto type = MemRefType::get({ShapedType::kDynamic}, elementType);
  return memref::AllocOp::create(b, loc, type, ValueRange{count});
}

Value mlir::bnb::gpu::outputTensor(OpBuilder &b, Location loc, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  auto tensorType =
      RankedTensorType::get(type.getShape(), type.getElementType());
  return bufferization::ToTensorOp::create(b, loc, tensorType, buffer,
                                           b.getUnitAttr(), b.getUnitAttr());
}

void mlir::bnb::gpu::launch(OpBuilder &b, Location loc,
                            ::mlir::gpu::GPUFuncOp kernel, Value gridX,
                            Value gridY, ValueRange args,
                            Value dynamicSharedBytes) {
  Value one = hostIndex(b, loc, 1);
  std::optional<ArrayRef<int32_t>> known = kernel.getKnownBlockSize();
  int64_t threads = known ? (*known)[0] : 1;
  ::mlir::gpu::KernelDim3 grid{gridX, gridY ? gridY : one, one};
  ::mlir::gpu::KernelDim3 block{hostIndex(b, loc, threads), one, one};
  if (dynamicSharedBytes && !dynamicSharedBytes.getType().isInteger(32))
    dynamicSharedBytes = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                                    dynamicSharedBytes);
  ::mlir::gpu::LaunchFuncOp::create(b, loc, kernel, grid, block,
                                    dynamicSharedBytes, args);
}

Value mlir::bnb::gpu::hostNumElements(OpBuilder &b, Location loc,
                                      Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.hasStaticShape())
    return hostIndex(b, loc, type.getNumElements());
  Value n = hostIndex(b, loc, 1);
  for (int64_t i = 0; i < type.getRank(); ++i)
    n = arith::MulIOp::create(b, loc, n,
                              tensor::DimOp::create(b, loc, tensor, i));
  return n;
}

Value mlir::bnb::gpu::hostLeadingRows(OpBuilder &b, Location loc,
                                      Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  int64_t rows = 1;
  bool dynamic = false;
  for (int64_t i = 0; i + 1 < type.getRank(); ++i) {
    if (type.isDynamicDim(i))
      dynamic = true;
    else
      rows *= type.getDimSize(i);
  }
  Value m = hostIndex(b, loc, rows);
  if (!dynamic)
    return m;
  for (int64_t i = 0; i + 1 < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      m = arith::MulIOp::create(b, loc, m,
                                tensor::DimOp::create(b, loc, tensor, i));
  return m;
}

SmallVector<Value> mlir::bnb::gpu::hostDynamicSizes(OpBuilder &b,
                                                    Location loc, Value like) {
  auto type = cast<RankedTensorType>(like.getType());
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, like, i));
  return sizes;
}
