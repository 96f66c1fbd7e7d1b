//===- BlockwiseToLinalg.cpp - blockwise primitives to linalg --------------===//
//
// quantize_4bit, dequantize_4bit, quantize_blockwise and dequantize_blockwise
// as linalg on tensors with bitsandbytes' numerics (bnb-numerics.md §2-§4):
// blocks over the row-major flattening, the absmax of the kernels, x·(1/absmax)
// with an IEEE reciprocal, codes as counts of strict threshold comparisons,
// and dequantization as one f32 multiply rounded once to the result type.
// The scalar numerics come from QuantCodegen, shared with the GPU kernels.
//
//===----------------------------------------------------------------------===//

#include "BnbToLinalgPatterns.h"
#include "LoweringUtils.h"

#include "bnb/Conversion/QuantCodegen.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Utils/TensorBuilders.h"
#include "bnb/Quant/Tables.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::codegen;
using namespace mlir::bnb::lowering;
namespace bq = ::bnb::quant;

namespace {

/// A TableLookupFn over the 1-D tensor constant `table`.
struct TensorTable {
  Value table;
  Value operator()(OpBuilder &b, Location loc, Value index) const {
    return lookup(b, loc, table, index);
  }
};

/// Builds the flat i8 code bytes of a blockwise quantization from the
/// flattened input `flat` of `n` elements and its block absmax.
using CodesBuilder = function_ref<Value(OpBuilder &, Location, Value flat,
                                        Value absmax, int64_t n)>;

/// The skeleton quantize_4bit and quantize_blockwise share: the row-major
/// flattening, the kernels' block absmax, the codes, and their reshaping to
/// the op's byte-typed codes result.
LogicalResult lowerBlockQuantize(Operation *op, Value input, int64_t blocksize,
                                 ConversionPatternRewriter &rewriter,
                                 CodesBuilder buildCodes) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto codesType = cast<RankedTensorType>(op->getResult(0).getType());
  if (!inputType.hasStaticShape() || !codesType.hasStaticShape())
    return rewriter.notifyMatchFailure(op, "dynamic shape");
  Location loc = op->getLoc();
  int64_t n = inputType.getNumElements();
  Value flat = flatten(rewriter, loc, input);
  Value absmax = blockAbsmax(rewriter, loc, flat, n, blocksize);
  Value codes = buildCodes(rewriter, loc, flat, absmax, n);
  Value shaped = unflatten(rewriter, loc, codes,
                           codesType.clone(rewriter.getI8Type()));
  rewriter.replaceOp(op, {bitcastBytes(rewriter, loc, shaped,
                                       codesType.getElementType()),
                          absmax});
  return success();
}

/// Element `e` of `flat` as f32, normalized by its block's absmax.
Value normalizedElement(OpBuilder &b, Location loc, Value x, Value absmax,
                        Value e, int64_t blocksize) {
  Value inverse =
      emitReciprocal(b, loc, blockAbsmaxOf(b, loc, absmax, e, blocksize));
  return emitNormalize(b, loc, x, inverse);
}

struct Quantize4bitLowering : public OpConversionPattern<Quantize4bitOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(Quantize4bitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    int64_t blocksize = op.getBlocksize();
    QuantType type = op.getQuantType();
    return lowerBlockQuantize(
        op, adaptor.getInput(), blocksize, rewriter,
        [&](OpBuilder &rb, Location loc, Value flat, Value absmax,
            int64_t n) {
          Type f32 = rb.getF32Type();
          return generateTensor(
              rb, loc, {(n + 1) / 2}, rb.getI8Type(), ValueRange{},
              [&](OpBuilder &b, Location l, ValueRange idx) {
                auto codeAt = [&](Value e) {
                  // The element past an odd end is the zero padding of the
                  // last block.
                  Value inBounds = arith::CmpIOp::create(
                      b, l, arith::CmpIPredicate::ult, e,
                      indexConstant(b, l, n));
                  Value safe = arith::SelectOp::create(
                      b, l, inBounds, e, indexConstant(b, l, n - 1));
                  Value x = castFloatScalar(
                      b, l, tensor::ExtractOp::create(b, l, flat, safe), f32);
                  x = arith::SelectOp::create(b, l, inBounds, x,
                                              f32Constant(b, l, 0.0f));
                  return emitEncode4bit(
                      b, l, type,
                      normalizedElement(b, l, x, absmax, safe, blocksize));
                };
                Value even =
                    arith::MulIOp::create(b, l, idx[0], indexConstant(b, l, 2));
                Value odd =
                    arith::AddIOp::create(b, l, even, indexConstant(b, l, 1));
                Value high = codeAt(even);
                Value low = codeAt(odd);
                Value byte = emitPackNibbles(b, l, high, low);
                return arith::TruncIOp::create(b, l, b.getI8Type(), byte)
                    .getResult();
              });
        });
  }
};

struct Dequantize4bitLowering : public OpConversionPattern<Dequantize4bitOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(Dequantize4bitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getResult().getType();
    if (!resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    int64_t n = resultType.getNumElements();
    int64_t blocksize = op.getBlocksize();
    Type i32 = rewriter.getI32Type();
    Value packed = bitcastBytes(rewriter, loc, adaptor.getPacked(),
                                rewriter.getI8Type());
    Value table =
        f32TableConstant(rewriter, loc, codeTable4bit(op.getQuantType()));
    Value absmax = adaptor.getAbsmax();
    Value flat = generateTensor(
        rewriter, loc, {n}, resultType.getElementType(), ValueRange{},
        [&](OpBuilder &b, Location l, ValueRange idx) {
          Value e = idx[0];
          Value two = indexConstant(b, l, 2);
          Value byteIndex = arith::DivUIOp::create(b, l, e, two);
          Value byte = tensor::ExtractOp::create(
              b, l, packed, ValueRange{byteIndex, indexConstant(b, l, 0)});
          Value wide = arith::ExtUIOp::create(b, l, i32, byte);
          Value isOdd = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ne,
              arith::RemUIOp::create(b, l, e, two), indexConstant(b, l, 0));
          Value code = emitUnpackNibble(b, l, wide, isOdd);
          Value value = lookup(b, l, table, code);
          Value scale = blockAbsmaxOf(b, l, absmax, e, blocksize);
          Value w = emitDequantizeValue(b, l, value, scale);
          return castFloatScalar(b, l, w, resultType.getElementType());
        });
    rewriter.replaceOp(op, unflatten(rewriter, loc, flat, resultType));
    return success();
  }
};

struct QuantizeBlockwiseLowering
    : public OpConversionPattern<QuantizeBlockwiseOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QuantizeBlockwiseOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    int64_t blocksize = op.getBlocksize();
    return lowerBlockQuantize(
        op, adaptor.getInput(), blocksize, rewriter,
        [&](OpBuilder &rb, Location loc, Value flat, Value absmax,
            int64_t n) {
          Type f32 = rb.getF32Type();
          TensorTable map{f32TableConstant(rb, loc, bq::kDynamicMap)};
          return generateTensor(
              rb, loc, {n}, rb.getI8Type(), ValueRange{},
              [&](OpBuilder &b, Location l, ValueRange idx) {
                Value x = castFloatScalar(
                    b, l, tensor::ExtractOp::create(b, l, flat, idx[0]), f32);
                Value code = emitEncodeDynamic(
                    b, l,
                    normalizedElement(b, l, x, absmax, idx[0], blocksize),
                    map);
                return arith::TruncIOp::create(b, l, b.getI8Type(), code)
                    .getResult();
              });
        });
  }
};

struct DequantizeBlockwiseLowering
    : public OpConversionPattern<DequantizeBlockwiseOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DequantizeBlockwiseOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = op.getResult().getType();
    if (!resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    int64_t n = resultType.getNumElements();
    int64_t blocksize = op.getBlocksize();
    Value codes = flatten(
        rewriter, loc,
        bitcastBytes(rewriter, loc, adaptor.getInput(), rewriter.getI8Type()));
    Value map = f32TableConstant(rewriter, loc, bq::kDynamicMap);
    Value absmax = adaptor.getAbsmax();
    Value flat = generateTensor(
        rewriter, loc, {n}, resultType.getElementType(), ValueRange{},
        [&](OpBuilder &b, Location l, ValueRange idx) {
          Value q = tensor::ExtractOp::create(b, l, codes, idx[0]);
          Value code = arith::ExtUIOp::create(b, l, b.getI32Type(), q);
          Value scale = blockAbsmaxOf(b, l, absmax, idx[0], blocksize);
          Value value =
              emitDequantizeValue(b, l, lookup(b, l, map, code), scale);
          return castFloatScalar(b, l, value, resultType.getElementType());
        });
    rewriter.replaceOp(op, unflatten(rewriter, loc, flat, resultType));
    return success();
  }
};
} // namespace

void mlir::bnb::lowering::populateBlockwiseToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<Quantize4bitLowering, Dequantize4bitLowering,
               QuantizeBlockwiseLowering, DequantizeBlockwiseLowering>(
      patterns.getContext());
}
