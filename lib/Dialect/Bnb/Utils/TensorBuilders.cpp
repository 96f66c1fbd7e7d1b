//===- TensorBuilders.cpp - small tensor-level IR builders -----------------===//

#include "bnb/Dialect/Bnb/Utils/TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::bnb;

Value mlir::bnb::castFloatScalar(OpBuilder &b, Location loc, Value value,
                                 Type dstType) {
  auto src = cast<FloatType>(value.getType());
  auto dst = cast<FloatType>(dstType);
  if (src == dst)
    return value;
  if (src.getWidth() < dst.getWidth())
    return arith::ExtFOp::create(b, loc, dst, value);
  if (src.getWidth() > dst.getWidth())
    return arith::TruncFOp::create(b, loc, dst, value);
  // f16 <-> bf16: widen exactly, then round once.
  Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
  return arith::TruncFOp::create(b, loc, dst, wide);
}

Value mlir::bnb::castFloatTensor(OpBuilder &b, Location loc, Value tensor,
                                 Type dstType) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getElementType() == dstType)
    return tensor;
  auto dst = type.clone(dstType);
  SmallVector<Value> dynSizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dynSizes.push_back(tensor::DimOp::create(b, loc, tensor, i));
  Value empty = tensor::EmptyOp::create(b, loc, dst, dynSizes);
  SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(type.getRank()));
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, dst, tensor, empty, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc,
                                castFloatScalar(nb, nloc, args[0], dstType));
      });
  return generic.getResult(0);
}

Value mlir::bnb::zeroTensor(OpBuilder &b, Location loc, RankedTensorType type) {
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(),
                                        type.getElementType());
  Value zero = arith::ConstantOp::create(
      b, loc, type.getElementType(), b.getZeroAttr(type.getElementType()));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

Value mlir::bnb::collapseTo2D(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getRank() == 2)
    return tensor;
  if (type.getRank() == 1) {
    auto dst = RankedTensorType::get({1, type.getDimSize(0)},
                                     type.getElementType());
    return tensor::ExpandShapeOp::create(b, loc, dst, tensor,
                                         ArrayRef<ReassociationIndices>{{0, 1}});
  }
  ReassociationIndices outer;
  for (int64_t i = 0; i < type.getRank() - 1; ++i)
    outer.push_back(i);
  SmallVector<ReassociationIndices> groups = {outer, {type.getRank() - 1}};
  return tensor::CollapseShapeOp::create(b, loc, tensor, groups);
}

Value mlir::bnb::expandFrom2D(OpBuilder &b, Location loc, Value tensor,
                              RankedTensorType type) {
  auto srcType = cast<RankedTensorType>(tensor.getType());
  if (type.getRank() == 2 && srcType.getShape() == type.getShape())
    return tensor;
  if (type.getRank() == 1)
    return tensor::CollapseShapeOp::create(
        b, loc, type, tensor, ArrayRef<ReassociationIndices>{{0, 1}});
  ReassociationIndices outer;
  for (int64_t i = 0; i < type.getRank() - 1; ++i)
    outer.push_back(i);
  SmallVector<ReassociationIndices> groups = {outer, {type.getRank() - 1}};
  return tensor::ExpandShapeOp::create(b, loc, type, tensor, groups);
}

Value mlir::bnb::transpose2D(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  Value empty = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{type.getDimSize(1), type.getDimSize(0)},
      type.getElementType());
  return linalg::TransposeOp::create(b, loc, tensor, empty,
                                     ArrayRef<int64_t>{1, 0})
      .getResult()[0];
}

Value mlir::bnb::elementwise2D(
    OpBuilder &b, Location loc, RankedTensorType resultType, ValueRange inputs,
    ArrayRef<AffineMap> inputMaps,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<Value> dynSizes;
  Value empty = tensor::EmptyOp::create(b, loc, resultType, dynSizes);
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(b.getMultiDimIdentityMap(2));
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, resultType, inputs, empty, maps, iterators,
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               linalg::YieldOp::create(nb, nloc, body(nb, nloc, args));
             })
      .getResult(0);
}

Value mlir::bnb::roundAccumulator(OpBuilder &b, Location loc, Value acc,
                                  Value bias, Type resultType) {
  if (!bias)
    return castFloatTensor(b, loc, acc, resultType);
  auto accType = cast<RankedTensorType>(acc.getType());
  MLIRContext *ctx = b.getContext();
  AffineMap id = b.getMultiDimIdentityMap(2);
  AffineMap col = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
  Type f32 = b.getF32Type();
  return elementwise2D(
      b, loc, accType.clone(resultType), {acc, bias}, {id, col},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value sum = arith::AddFOp::create(nb, l, args[0],
                                          castFloatScalar(nb, l, args[1], f32));
        return castFloatScalar(nb, l, sum, resultType);
      });
}
