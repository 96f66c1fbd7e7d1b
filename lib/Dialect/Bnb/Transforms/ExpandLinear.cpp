//===- ExpandLinear.cpp - bnb-expand ---------------------------------------===//
//
// Expands bnb.linear_int8 and bnb.linear_4bit into the primitive bnb ops and
// linalg, following bitsandbytes' inference forward step by step
// (MatMul8bitLt with outlier decomposition; Linear4bit's dequantize-then-
// matmul fallback in the compute dtype).
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Utils/TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBEXPAND
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

namespace {

/// f32(1/127), what int8_vectorwise_dequant multiplies by.
constexpr float kInt8DequantScale = 7.874015718698502e-3f;

/// Maps for `out[m, n] += lhs[m, k] · rhs[n, k]`.
SmallVector<AffineMap> transposedMatmulMaps(MLIRContext *ctx) {
  AffineExpr m, n, k;
  bindDims(ctx, m, n, k);
  return {AffineMap::get(3, 0, {m, k}, ctx), AffineMap::get(3, 0, {n, k}, ctx),
          AffineMap::get(3, 0, {m, n}, ctx)};
}

/// `acc[m, n] = fma(lhs[m, k], rhs[n, k], acc[m, n])` over k ascending, the
/// operands widened exactly to f32: a GEMM with f32 accumulation by fused
/// multiply-adds, as cuBLAS and our GPU kernels compute it.
Value fmaMatmulTransposed(OpBuilder &b, Location loc, Value lhs, Value rhs,
                          Value acc) {
  SmallVector<AffineMap> maps = transposedMatmulMaps(b.getContext());
  SmallVector<utils::IteratorType> iterators = {
      utils::IteratorType::parallel, utils::IteratorType::parallel,
      utils::IteratorType::reduction};
  Type f32 = b.getF32Type();
  return linalg::GenericOp::create(
             b, loc, acc.getType(), ValueRange{lhs, rhs}, ValueRange{acc},
             maps, iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value x = castFloatScalar(nb, l, args[0], f32);
               Value w = castFloatScalar(nb, l, args[1], f32);
               linalg::YieldOp::create(
                   nb, l, math::FmaOp::create(nb, l, x, w, args[2]).getResult());
             })
      .getResult(0);
}

//===----------------------------------------------------------------------===//
// LLM.int8()
//===----------------------------------------------------------------------===//

struct ExpandLinearInt8 : public OpRewritePattern<LinearInt8Op> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearInt8Op op,
                                PatternRewriter &rewriter) const override {
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    if (!inputType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic input shape");
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Type elt = inputType.getElementType();
    Type f16 = rewriter.getF16Type(), f32 = rewriter.getF32Type();
    Type i8 = rewriter.getI8Type();

    // bnb quantizes the activation cast to f16, whatever the model dtype.
    Value x = collapseTo2D(rewriter, loc, op.getInput());
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t m = xType.getDimSize(0), k = xType.getDimSize(1);
    int64_t n = op.getOutFeatures();
    Value xh = castFloatTensor(rewriter, loc, x, f16);

    Value cb = op.getWeight(), scb = op.getScb();
    if (!op.isQuantized()) {
      // has_fp16_weight (or not yet quantized): int8_vectorwise_quant of the
      // f16 weight with threshold 0, exactly as Int8Params does.
      Value w = op.getConv1d() ? transpose2D(rewriter, loc, cb) : cb;
      Value wh = castFloatTensor(rewriter, loc, w, f16);
      auto quant = QuantizeRowwiseOp::create(
          rewriter, loc, RankedTensorType::get({n, k}, i8),
          RankedTensorType::get({n}, f32), wh, rewriter.getF32FloatAttr(0));
      cb = quant.getResult();
      scb = quant.getStats();
    }

    FloatAttr threshold = op.getThresholdAttr();
    auto qa = QuantizeRowwiseOp::create(
        rewriter, loc, RankedTensorType::get({m, k}, i8),
        RankedTensorType::get({m}, f32), xh, threshold);
    Value c = Int8MatmulOp::create(rewriter, loc,
                                   RankedTensorType::get({m, n},
                                                         rewriter.getI32Type()),
                                   qa.getResult(), cb);

    // Linear8bitLt casts the bias to the input dtype; the kernel fuses it
    // only when that is f16, otherwise it is added to the f16 result in f32.
    Value bias = op.getBias() ? castFloatTensor(rewriter, loc, op.getBias(), elt)
                              : Value();
    auto resultF16 = RankedTensorType::get({m, n}, f16);
    Value y = DequantizeInt8Op::create(rewriter, loc, resultF16, c,
                                       qa.getStats(), scb,
                                       elt.isF16() ? bias : Value());
    AffineMap id = rewriter.getMultiDimIdentityMap(2);
    AffineMap col = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    if (bias && !elt.isF16()) {
      y = elementwise2D(rewriter, loc, resultF16, {y, bias}, {id, col},
                        [&](OpBuilder &b, Location l, ValueRange args) {
                          Value sum = arith::AddFOp::create(
                              b, l, castFloatScalar(b, l, args[0], f32),
                              castFloatScalar(b, l, args[1], f32));
                          return castFloatScalar(b, l, sum, f16);
                        });
    }
    y = castFloatTensor(rewriter, loc, y, elt);

    if (!threshold.getValue().isZero())
      y = addOutliers(rewriter, loc, x, cb, scb, y, threshold);
    rewriter.replaceOp(op, expandFrom2D(rewriter, loc, y, op.getType()));
    return success();
  }

  /// `y + subA · subBᵀ` where subA holds the outlier columns of `x` and subB
  /// the same columns of the dequantized int8 weight, accumulated in f32 and
  /// rounded once to the output type (a cuBLAS addmm with f32 compute).
  static Value addOutliers(PatternRewriter &rewriter, Location loc, Value x,
                           Value cb, Value scb, Value y, FloatAttr threshold) {
    MLIRContext *ctx = rewriter.getContext();
    auto xType = cast<RankedTensorType>(x.getType());
    auto yType = cast<RankedTensorType>(y.getType());
    Type elt = xType.getElementType(), f32 = rewriter.getF32Type();
    int64_t m = xType.getDimSize(0), n = yType.getDimSize(1);
    int64_t dyn = ShapedType::kDynamic;
    auto split = OutlierSplitOp::create(
        rewriter, loc, RankedTensorType::get({dyn}, rewriter.getI64Type()),
        RankedTensorType::get({m, dyn}, elt), x, threshold);
    Value count = tensor::DimOp::create(rewriter, loc, split.getColumns(), 0);

    // subB[n, j] = T(f32(f32(CB[n, cols[j]]) · SCB[n]) · (1/127)).
    auto subBType = RankedTensorType::get({n, dyn}, elt);
    Value empty =
        tensor::EmptyOp::create(rewriter, loc, subBType, ValueRange{count});
    AffineMap rowMap = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
    AffineMap colMap = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    SmallVector<AffineMap> maps = {rowMap, colMap,
                                   rewriter.getMultiDimIdentityMap(2)};
    SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
    Value subB =
        linalg::GenericOp::create(
            rewriter, loc, subBType, ValueRange{scb, split.getColumns()}, empty,
            maps, iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value row = linalg::IndexOp::create(b, l, 0);
              Value column = arith::IndexCastOp::create(
                  b, l, b.getIndexType(), args[1]);
              Value q = tensor::ExtractOp::create(b, l, cb,
                                                  ValueRange{row, column});
              Value qf = arith::SIToFPOp::create(b, l, f32, q);
              Value scaled = arith::MulFOp::create(b, l, qf, args[0]);
              Value inv127 = arith::ConstantOp::create(
                  b, l, b.getF32FloatAttr(kInt8DequantScale));
              Value w = arith::MulFOp::create(b, l, scaled, inv127);
              linalg::YieldOp::create(b, l, castFloatScalar(b, l, w, elt));
            })
            .getResult(0);

    // alpha·(subA·subBᵀ) + beta·y: the product sum first, then the add.
    Value sum = fmaMatmulTransposed(
        rewriter, loc, split.getOutliers(), subB,
        zeroTensor(rewriter, loc, RankedTensorType::get({m, n}, f32)));
    AffineMap id = rewriter.getMultiDimIdentityMap(2);
    return elementwise2D(rewriter, loc, yType, {sum, y}, {id, id},
                         [&](OpBuilder &b, Location l, ValueRange args) {
                           Value total = arith::AddFOp::create(
                               b, l, args[0], castFloatScalar(b, l, args[1], f32));
                           return castFloatScalar(b, l, total, elt);
                         });
  }
};

//===----------------------------------------------------------------------===//
// 4-bit
//===----------------------------------------------------------------------===//

struct ExpandLinear4bit : public OpRewritePattern<Linear4bitOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(Linear4bitOp op,
                                PatternRewriter &rewriter) const override {
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    if (!inputType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic input shape");
    if (!op.isQuantized())
      return rewriter.notifyMatchFailure(op, "float weight");
    Location loc = op.getLoc();
    Type elt = inputType.getElementType();
    Type computeType = op.getComputeDtype();
    Type f32 = rewriter.getF32Type();
    int64_t n = op.getOutFeatures(), k = op.getInFeatures();

    Value x = collapseTo2D(rewriter, loc, op.getInput());
    int64_t m = cast<RankedTensorType>(x.getType()).getDimSize(0);
    Value xc = castFloatTensor(rewriter, loc, x, computeType);

    // Double quantization: absmax = f32(f32(code8[q] · nested[i/256]) + offset).
    Value absmax = op.getAbsmax();
    if (op.isNested()) {
      auto absmaxType = cast<RankedTensorType>(absmax.getType());
      auto f32Type = absmaxType.clone(f32);
      Value scaled = DequantizeBlockwiseOp::create(
          rewriter, loc, f32Type, absmax, op.getNestedAbsmax(),
          rewriter.getI64IntegerAttr(256));
      Value offset = arith::ConstantOp::create(rewriter, loc,
                                               op.getNestedOffsetAttr());
      Value empty = tensor::EmptyOp::create(rewriter, loc, f32Type.getShape(),
                                            f32);
      AffineMap id = rewriter.getMultiDimIdentityMap(1);
      absmax = linalg::GenericOp::create(
                   rewriter, loc, f32Type, scaled, empty,
                   ArrayRef<AffineMap>{id, id},
                   ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
                   [&](OpBuilder &b, Location l, ValueRange args) {
                     linalg::YieldOp::create(
                         b, l, arith::AddFOp::create(b, l, args[0], offset)
                                   .getResult());
                   })
                   .getResult(0);
    }

    // bnb >= 0.50 dequantizes straight into the compute dtype.
    Value w = Dequantize4bitOp::create(
        rewriter, loc, RankedTensorType::get({n, k}, computeType),
        op.getWeight(), absmax, op.getQuantTypeAttr(), op.getBlocksizeAttr());
    Value acc = zeroTensor(rewriter, loc, RankedTensorType::get({m, n}, f32));
    acc = fmaMatmulTransposed(rewriter, loc, xc, w, acc);

    // The bias (cast to the compute dtype) joins the f32 accumulator before
    // the single rounding to the compute dtype.
    Value bias = op.getBias()
                     ? castFloatTensor(rewriter, loc, op.getBias(), computeType)
                     : Value();
    Value y = roundAccumulator(rewriter, loc, acc, bias, computeType);
    y = castFloatTensor(rewriter, loc, y, elt);
    rewriter.replaceOp(op, expandFrom2D(rewriter, loc, y, op.getType()));
    return success();
  }
};

struct BnbExpandPass : public mlir::bnb::impl::BnbExpandBase<BnbExpandPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateBnbExpandPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // Report the layers the patterns could not expand.
    WalkResult leftover = getOperation().walk([](Operation *op) {
      if (!isa<LinearInt8Op, Linear4bitOp>(op))
        return WalkResult::advance();
      auto layer4 = dyn_cast<Linear4bitOp>(op);
      if (layer4 && !layer4.isQuantized())
        op->emitOpError() << "has a float weight; run bnb-quantize-weights "
                             "before bnb-expand (4-bit quantization, double "
                             "quantization included, happens once, offline)";
      else
        op->emitOpError() << "needs a statically shaped input to be expanded";
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace

void mlir::bnb::populateBnbExpandPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpandLinearInt8, ExpandLinear4bit>(patterns.getContext());
}
