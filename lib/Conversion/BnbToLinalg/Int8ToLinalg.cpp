//===- Int8ToLinalg.cpp - LLM.int8() primitives to linalg ------------------===//
//
// quantize_rowwise, outlier_split, int8_matmul and dequantize_int8 as linalg
// on tensors, with bitsandbytes' numerics (bnb-numerics.md §1): the threshold
// is compared after rounding it to f16, the row absmax skips outlier and NaN
// elements, the scale is 127 * (1/absmax), rounding is half to even, and the
// dequantization is one FMA with 6.200012e-05 and the bias. The scalar
// numerics come from QuantCodegen, shared with the GPU kernels.
//
//===----------------------------------------------------------------------===//

#include "BnbToLinalgPatterns.h"
#include "LoweringUtils.h"

#include "bnb/Conversion/QuantCodegen.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Utils/TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::codegen;
using namespace mlir::bnb::lowering;

namespace {

/// The threshold as the kernels compare it: rounded to f16, widened to f32.
float thresholdAsHalf(FloatAttr threshold) {
  llvm::APFloat value = threshold.getValue();
  bool losesInfo;
  value.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven,
                &losesInfo);
  value.convert(llvm::APFloat::IEEEsingle(),
                llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  return value.convertToFloat();
}

/// `|x| >= threshold` for the f32 widening of an f16 value (the threshold
/// f32, or rounded to f16 by thresholdAsHalf where the kernel compares in
/// half precision).
Value isOutlier(OpBuilder &b, Location loc, Value xf, float threshold) {
  Value magnitude = math::AbsFOp::create(b, loc, xf);
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, magnitude,
                               f32Constant(b, loc, threshold));
}

/// mask[j] = some row of column j holds |f16(x)| >= threshold.
Value outlierColumnMask(OpBuilder &b, Location loc, Value x, float threshold) {
  auto type = cast<RankedTensorType>(x.getType());
  MLIRContext *ctx = b.getContext();
  auto maskType = RankedTensorType::get({type.getDimSize(1)}, b.getI1Type());
  Value empty = tensor::EmptyOp::create(b, loc, maskType, ValueRange{});
  Value falseValue = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
  Value init = linalg::FillOp::create(b, loc, falseValue, empty).getResult(0);
  AffineMap colMap = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
  return linalg::GenericOp::create(
             b, loc, maskType, x, init,
             ArrayRef<AffineMap>{b.getMultiDimIdentityMap(2), colMap},
             ArrayRef<utils::IteratorType>{utils::IteratorType::reduction,
                                           utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value half = castFloatScalar(nb, l, args[0], nb.getF16Type());
               Value xf = castFloatScalar(nb, l, half, nb.getF32Type());
               Value outlier = isOutlier(nb, l, xf, threshold);
               linalg::YieldOp::create(
                   nb, l, arith::OrIOp::create(nb, l, args[1], outlier)
                              .getResult());
             })
      .getResult(0);
}

struct QuantizeRowwiseLowering : public OpConversionPattern<QuantizeRowwiseOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QuantizeRowwiseOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = adaptor.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (!type.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
    Type f32 = rewriter.getF32Type();
    bool sparse = !op.getThreshold().isZero();
    // The row absmax leaves out |x| >= f16(threshold) (the kernel compares
    // in half precision); a zeroed element and an outlier column are
    // |x| >= threshold in f32. They differ for a threshold f16 cannot hold.
    float thresholdHalf = thresholdAsHalf(op.getThresholdAttr());
    float threshold = op.getThreshold().convertToFloat();

    // Row absmax over non-outlier, non-NaN elements, starting from 0.
    auto statsType = RankedTensorType::get({rows}, f32);
    Value statsInit = linalg::FillOp::create(
                          rewriter, loc, f32Constant(rewriter, loc, 0.0f),
                          tensor::EmptyOp::create(rewriter, loc, statsType,
                                                  ValueRange{})
                              .getResult())
                          .getResult(0);
    AffineMap rowMap = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
    AffineMap colMap = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    AffineMap id = rewriter.getMultiDimIdentityMap(2);
    Value stats =
        linalg::GenericOp::create(
            rewriter, loc, statsType, x, statsInit,
            ArrayRef<AffineMap>{id, rowMap},
            ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                          utils::IteratorType::reduction},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value xf = castFloatScalar(b, l, args[0], f32);
              Value magnitude = math::AbsFOp::create(b, l, xf);
              Value candidate = magnitude;
              if (sparse)
                candidate = arith::SelectOp::create(
                    b, l, isOutlier(b, l, xf, thresholdHalf),
                    f32Constant(b, l, 0.0f), magnitude);
              linalg::YieldOp::create(
                  b, l, arith::MaxNumFOp::create(b, l, args[1], candidate)
                            .getResult());
            })
            .getResult(0);

    Value mask;
    if (sparse)
      mask = outlierColumnMask(rewriter, loc, x, threshold);

    SmallVector<Value> inputs = {x, stats};
    SmallVector<AffineMap> maps = {id, rowMap};
    if (mask) {
      inputs.push_back(mask);
      maps.push_back(colMap);
    }
    maps.push_back(id);
    auto resultType = RankedTensorType::get({rows, cols}, rewriter.getI8Type());
    Value empty = tensor::EmptyOp::create(rewriter, loc, resultType,
                                          ValueRange{});
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, resultType, inputs, empty, maps,
            ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                          utils::IteratorType::parallel},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value xf = castFloatScalar(b, l, args[0], f32);
              Value scale = emitInt8RowScale(b, l, args[1]);
              Value q = emitRoundToInt8(
                  b, l, arith::MulFOp::create(b, l, xf, scale));
              if (sparse) {
                Value drop = arith::OrIOp::create(
                    b, l, isOutlier(b, l, xf, threshold), args[2]);
                q = arith::SelectOp::create(
                    b, l, drop,
                    arith::ConstantOp::create(b, l, b.getI8IntegerAttr(0)), q);
              }
              linalg::YieldOp::create(b, l, q);
            })
            .getResult(0);
    rewriter.replaceOp(op, {result, stats});
    return success();
  }
};

struct OutlierSplitLowering : public OpConversionPattern<OutlierSplitOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OutlierSplitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (!type.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
    Value mask =
        outlierColumnMask(rewriter, loc, x, op.getThreshold().convertToFloat());

    // Count the outlier columns, then list them in ascending order.
    Value zero = indexConstant(rewriter, loc, 0);
    Value one = indexConstant(rewriter, loc, 1);
    Value numCols = indexConstant(rewriter, loc, cols);
    auto countLoop = scf::ForOp::create(
        rewriter, loc, zero, numCols, one, ValueRange{zero},
        [&](OpBuilder &b, Location l, Value j, ValueRange iter) {
          Value bit = tensor::ExtractOp::create(b, l, mask, j);
          Value inc = arith::IndexCastUIOp::create(
              b, l, b.getIndexType(),
              arith::ExtUIOp::create(b, l, b.getI32Type(), bit));
          scf::YieldOp::create(b, l,
                               arith::AddIOp::create(b, l, iter[0], inc)
                                   .getResult());
        });
    Value count = countLoop.getResult(0);
    Type i64 = rewriter.getI64Type();
    auto columnsType =
        RankedTensorType::get({ShapedType::kDynamic}, i64);
    Value columnsInit =
        tensor::EmptyOp::create(rewriter, loc, columnsType, ValueRange{count});
    auto fillLoop = scf::ForOp::create(
        rewriter, loc, zero, numCols, one, ValueRange{columnsInit, zero},
        [&](OpBuilder &b, Location l, Value j, ValueRange iter) {
          Value bit = tensor::ExtractOp::create(b, l, mask, j);
          auto branch = scf::IfOp::create(
              b, l, bit,
              [&](OpBuilder &tb, Location tl) {
                Value column = arith::IndexCastOp::create(tb, tl, i64, j);
                Value next = tensor::InsertOp::create(tb, tl, column, iter[0],
                                                      ValueRange{iter[1]});
                Value pos = arith::AddIOp::create(tb, tl, iter[1], one);
                scf::YieldOp::create(tb, tl, ValueRange{next, pos});
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, ValueRange{iter[0], iter[1]});
              });
          scf::YieldOp::create(b, l, branch.getResults());
        });
    Value columns = fillLoop.getResult(0);

    Value outliers = generateTensor(
        rewriter, loc, {rows, ShapedType::kDynamic}, type.getElementType(),
        ValueRange{count}, [&](OpBuilder &b, Location l, ValueRange idx) {
          Value column = tensor::ExtractOp::create(b, l, columns, idx[1]);
          Value j = arith::IndexCastOp::create(b, l, b.getIndexType(), column);
          return tensor::ExtractOp::create(b, l, x, ValueRange{idx[0], j})
              .getResult();
        });
    rewriter.replaceOp(
        op, {castIfNeeded(rewriter, loc, columns, op.getColumns().getType()),
             castIfNeeded(rewriter, loc, outliers, op.getOutliers().getType())});
    return success();
  }

  static Value castIfNeeded(OpBuilder &b, Location loc, Value value,
                            Type type) {
    if (value.getType() == type)
      return value;
    return tensor::CastOp::create(b, loc, type, value);
  }
};

struct Int8MatmulLowering : public OpConversionPattern<Int8MatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(Int8MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto resultType = op.getResult().getType();
    if (!resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    Value init = zeroTensor(rewriter, loc, resultType);
    AffineExpr m, n, k;
    bindDims(ctx, m, n, k);
    SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {m, k}, ctx),
                                   AffineMap::get(3, 0, {n, k}, ctx),
                                   AffineMap::get(3, 0, {m, n}, ctx)};
    // linalg.matmul sign-extends i8 operands: exact int32 products and
    // wrapping int32 sums.
    NamedAttribute mapsAttr(rewriter.getStringAttr("indexing_maps"),
                            rewriter.getAffineMapArrayAttr(maps));
    rewriter.replaceOpWithNewOp<linalg::MatmulOp>(
        op, TypeRange{resultType},
        ValueRange{adaptor.getLhs(), adaptor.getRhs()}, ValueRange{init},
        ArrayRef<NamedAttribute>{mapsAttr});
    return success();
  }
};

struct DequantizeInt8Lowering : public OpConversionPattern<DequantizeInt8Op> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DequantizeInt8Op op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto resultType = op.getResult().getType();
    if (!resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    AffineMap id = rewriter.getMultiDimIdentityMap(2);
    AffineMap rowMap = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
    AffineMap colMap = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    SmallVector<Value> inputs = {adaptor.getInput(), adaptor.getRowStats(),
                                 adaptor.getColStats()};
    SmallVector<AffineMap> maps = {id, rowMap, colMap};
    if (adaptor.getBias()) {
      inputs.push_back(adaptor.getBias());
      maps.push_back(colMap);
    }
    maps.push_back(id);
    Type f32 = rewriter.getF32Type();
    Value empty =
        tensor::EmptyOp::create(rewriter, loc, resultType, ValueRange{});
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, resultType, inputs, empty, maps,
            ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                          utils::IteratorType::parallel},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value bias = adaptor.getBias()
                               ? castFloatScalar(b, l, args[3], f32)
                               : Value();
              linalg::YieldOp::create(
                  b, l,
                  emitDequantizeInt8(b, l, args[0], args[1], args[2], bias));
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void mlir::bnb::lowering::populateInt8ToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<QuantizeRowwiseLowering, OutlierSplitLowering,
               Int8MatmulLowering, DequantizeInt8Lowering>(
      patterns.getContext());
}
