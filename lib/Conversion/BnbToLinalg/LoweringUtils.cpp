//===- LoweringUtils.cpp - shared pieces of the bnb -> linalg lowering -----===//

#include "LoweringUtils.h"

#include "bnb/Dialect/Bnb/Utils/TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cfloat>

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::lowering;

Value lowering::f32Constant(OpBuilder &b, Location loc, float value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

Value lowering::indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value lowering::f32TableConstant(OpBuilder &b, Location loc,
                               ArrayRef<float> values) {
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    b.getF32Type());
  return arith::ConstantOp::create(b, loc, type,
                                   DenseElementsAttr::get(type, values));
}

Value lowering::flatten(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getRank() == 1)
    return tensor;
  if (type.getRank() == 0)
    return tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get({1}, type.getElementType()), tensor,
        ArrayRef<ReassociationIndices>{});
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  return tensor::CollapseShapeOp::create(b, loc, tensor,
                                         ArrayRef<ReassociationIndices>{all});
}

Value lowering::unflatten(OpBuilder &b, Location loc, Value flat,
                        RankedTensorType type) {
  if (type.getRank() == 1)
    return flat;
  if (type.getRank() == 0)
    return tensor::CollapseShapeOp::create(b, loc, type, flat,
                                           ArrayRef<ReassociationIndices>{});
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  return tensor::ExpandShapeOp::create(b, loc, type, flat,
                                       ArrayRef<ReassociationIndices>{all});
}

Value lowering::bitcastBytes(OpBuilder &b, Location loc, Value tensor,
                           Type elementType) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getElementType() == elementType)
    return tensor;
  return tensor::BitcastOp::create(b, loc, type.clone(elementType), tensor);
}

Value lowering::generateTensor(
    OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elementType,
    ValueRange dynamicSizes,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  auto type = RankedTensorType::get(shape, elementType);
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamicSizes);
  unsigned rank = shape.size();
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{}, empty,
             ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank)}, iterators,
             [&](OpBuilder &nb, Location nloc, ValueRange) {
               SmallVector<Value> indices;
               for (unsigned d = 0; d < rank; ++d)
                 indices.push_back(linalg::IndexOp::create(nb, nloc, d));
               linalg::YieldOp::create(nb, nloc, body(nb, nloc, indices));
             })
      .getResult(0);
}

Value lowering::blockAbsmax(OpBuilder &b, Location loc, Value flat, int64_t n,
                            int64_t blocksize) {
  int64_t numBlocks = (n + blocksize - 1) / blocksize;
  Type f32 = b.getF32Type();
  auto flatType = cast<RankedTensorType>(flat.getType());
  Type elementType = flatType.getElementType();
  // View the data as [blocks, blocksize]; a partial last block is padded
  // with zeros, which is what the kernels' loader does.
  Value padded = flat;
  if (numBlocks * blocksize != n) {
    Value zero = arith::ConstantOp::create(b, loc, elementType,
                                           b.getZeroAttr(elementType));
    auto paddedType = RankedTensorType::get({numBlocks * blocksize},
                                            elementType);
    SmallVector<OpFoldResult> low = {b.getIndexAttr(0)};
    SmallVector<OpFoldResult> high = {
        b.getIndexAttr(numBlocks * blocksize - n)};
    padded = tensor::PadOp::create(b, loc, paddedType, flat, low, high, zero);
  }
  Value blocks = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get({numBlocks, blocksize}, elementType),
      padded, ArrayRef<ReassociationIndices>{{0, 1}});

  auto resultType = RankedTensorType::get({numBlocks}, f32);
  Value empty = tensor::EmptyOp::create(b, loc, resultType, ValueRange{});
  Value init = linalg::FillOp::create(b, loc, f32Constant(b, loc, -FLT_MAX),
                                      empty)
                   .getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineMap outMap = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  return linalg::GenericOp::create(
             b, loc, resultType, ValueRange{blocks}, init,
             ArrayRef<AffineMap>{b.getMultiDimIdentityMap(2), outMap},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::reduction},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value x = castFloatScalar(nb, l, args[0], f32);
               Value magnitude = math::AbsFOp::create(nb, l, x);
               // maxnumf ignores NaN, as the kernels' fmaxf does.
               linalg::YieldOp::create(
                   nb, l, arith::MaxNumFOp::create(nb, l, args[1], magnitude)
                              .getResult());
             })
      .getResult(0);
}

Value lowering::blockAbsmaxOf(OpBuilder &b, Location loc, Value absmax,
                              Value e, int64_t blocksize) {
  Value block =
      arith::DivUIOp::create(b, loc, e, indexConstant(b, loc, blocksize));
  return tensor::ExtractOp::create(b, loc, absmax, block);
}

Value lowering::lookup(OpBuilder &b, Location loc, Value table, Value code) {
  Value index = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
  return tensor::ExtractOp::create(b, loc, table, index);
}
