//===- BlockwiseToLinalg.cpp - blockwise primitives to linalg --------------===//
//
// quantize_4bit, dequantize_4bit, quantize_blockwise and dequantize_blockwise
// as linalg on tensors with bitsandbytes' numerics (bnb-numerics.md §2-§4):
// blocks over the row-major flattening, the absmax of the kernels, x·(1/absmax)
// with an IEEE reciprocal, codes as counts of strict threshold comparisons,
// and dequantization as one f32 multiply rounded once to the result type.
//
//===----------------------------------------------------------------------===//

#include "BnbToLinalgPatterns.h"
#include "LoweringUtils.h"

#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Transforms/TensorBuilders.h"
#include "bnb/Quant/Tables.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <array>

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::lowering;
namespace bq = ::bnb::quant;

namespace {

ArrayRef<float> codeTable(QuantType type) {
  return type == QuantType::nf4 ? ArrayRef<float>(bq::kNF4Table)
                                : ArrayRef<float>(bq::kFP4Table);
}

/// The 4-bit code of a normalized value (NaN gets code 0).
Value encode4bit(OpBuilder &b, Location loc, Value x, QuantType type) {
  if (type == QuantType::nf4)
    return countBelow(b, loc, x, bq::kNF4Thresholds);
  // FP4: a sign bit for x < 0 (so -0.0 keeps sign 0) and a 3-bit magnitude
  // code picked by the count of the kernel's literal thresholds below |x|.
  Type i32 = b.getI32Type();
  Value magnitude = math::AbsFOp::create(b, loc, x);
  Value rank = countBelow(b, loc, magnitude, bq::kFP4Thresholds);
  static constexpr std::array<int32_t, 8> kMagnitudeCode = {0b000, 0b001, 0b110,
                                                            0b111, 0b100, 0b101,
                                                            0b010, 0b011};
  Value code = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
  for (int32_t r = 1; r < 8; ++r) {
    Value hit = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq, rank,
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(r)));
    code = arith::SelectOp::create(
        b, loc, hit,
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(kMagnitudeCode[r])),
        code);
  }
  Value negative = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x,
                                         f32Constant(b, loc, 0.0f));
  Value sign = arith::SelectOp::create(
      b, loc, negative, arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(8)),
      arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)));
  (void)i32;
  return arith::OrIOp::create(b, loc, code, sign);
}

struct Quantize4bitLowering : public OpConversionPattern<Quantize4bitOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(Quantize4bitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = op.getInput().getType();
    if (!inputType.hasStaticShape() ||
        !op.getPacked().getType().hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    int64_t n = inputType.getNumElements();
    int64_t blocksize = op.getBlocksize();
    QuantType type = op.getQuantType();
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    Value flat = flatten(rewriter, loc, adaptor.getInput());
    Value absmax = blockAbsmax(rewriter, loc, flat, n, blocksize);
    int64_t numBytes = (n + 1) / 2;

    Value bytes = generateTensor(
        rewriter, loc, {numBytes}, rewriter.getI8Type(), ValueRange{},
        [&](OpBuilder &b, Location l, ValueRange idx) {
          Value bs = indexConstant(b, l, blocksize);
          auto codeAt = [&](Value e) {
            // The element past an odd end is the zero padding of the last
            // block.
            Value inBounds = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::ult, e, indexConstant(b, l, n));
            Value safe = arith::SelectOp::create(b, l, inBounds, e,
                                                 indexConstant(b, l, n - 1));
            Value x = castFloatScalar(
                b, l, tensor::ExtractOp::create(b, l, flat, safe), f32);
            x = arith::SelectOp::create(b, l, inBounds, x,
                                        f32Constant(b, l, 0.0f));
            Value block = arith::DivUIOp::create(b, l, safe, bs);
            Value scale = tensor::ExtractOp::create(b, l, absmax, block);
            return encode4bit(b, l, normalize(b, l, x, scale), type);
          };
          Value even = arith::MulIOp::create(b, l, idx[0], indexConstant(b, l, 2));
          Value odd = arith::AddIOp::create(b, l, even, indexConstant(b, l, 1));
          Value high = arith::ShLIOp::create(
              b, l, codeAt(even),
              arith::ConstantOp::create(b, l, b.getI32IntegerAttr(4)));
          Value byte = arith::OrIOp::create(b, l, high, codeAt(odd));
          (void)i32;
          return arith::TruncIOp::create(b, l, b.getI8Type(), byte).getResult();
        });
    Value packed = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({numBytes, 1}, rewriter.getI8Type()),
        bytes, ArrayRef<ReassociationIndices>{{0, 1}});
    packed = bitcastBytes(rewriter, loc, packed,
                          op.getPacked().getType().getElementType());
    rewriter.replaceOp(op, {packed, absmax});
    return success();
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
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    Value packed = bitcastBytes(rewriter, loc, adaptor.getPacked(),
                                rewriter.getI8Type());
    Value table = f32TableConstant(rewriter, loc, codeTable(op.getQuantType()));
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
          // The first (even) element sits in the high nibble.
          Value shift = arith::SelectOp::create(
              b, l, isOdd, arith::ConstantOp::create(b, l, b.getI32IntegerAttr(0)),
              arith::ConstantOp::create(b, l, b.getI32IntegerAttr(4)));
          Value code = arith::AndIOp::create(
              b, l, arith::ShRUIOp::create(b, l, wide, shift),
              arith::ConstantOp::create(b, l, b.getI32IntegerAttr(15)));
          Value value = lookup(b, l, table, code);
          Value block =
              arith::DivUIOp::create(b, l, e, indexConstant(b, l, blocksize));
          Value scale = tensor::ExtractOp::create(b, l, absmax, block);
          Value w = arith::MulFOp::create(b, l, value, scale);
          (void)f32;
          return castFloatScalar(b, l, w, resultType.getElementType());
        });
    rewriter.replaceOp(op, unflatten(rewriter, loc, flat, resultType));
    return success();
  }
};

/// f32 midpoints between neighbouring entries of the dynamic map.
std::array<float, 255> dynamicMapMidpoints() {
  std::array<float, 255> mids;
  for (size_t i = 0; i < mids.size(); ++i)
    mids[i] = (bq::kDynamicMap[i] + bq::kDynamicMap[i + 1]) * 0.5f;
  return mids;
}

/// The dynamic-map index of a normalized value: the nearest entry with
/// boundaries at the f32 midpoints, a value exactly on a midpoint going to
/// the even index, NaN to 0 (what the kernel's binary search yields).
Value encodeDynamic(OpBuilder &b, Location loc, Value x, Value mids) {
  // pos = number of midpoints strictly below x, by binary search.
  Value pos = indexConstant(b, loc, 0);
  for (int64_t step = 128; step >= 1; step /= 2) {
    Value next = arith::AddIOp::create(b, loc, pos, indexConstant(b, loc, step));
    Value fits = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, next,
                                       indexConstant(b, loc, 255));
    Value probe = arith::SubIOp::create(
        b, loc, arith::MinUIOp::create(b, loc, next, indexConstant(b, loc, 255)),
        indexConstant(b, loc, 1));
    Value mid = tensor::ExtractOp::create(b, loc, mids, probe);
    Value below = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, mid, x);
    Value take = arith::AndIOp::create(b, loc, fits, below);
    pos = arith::SelectOp::create(b, loc, take, next, pos);
  }
  // A tie with the midpoint above goes up when that makes the index even.
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, pos,
                                        indexConstant(b, loc, 255));
  Value safe = arith::MinUIOp::create(b, loc, pos, indexConstant(b, loc, 254));
  Value mid = tensor::ExtractOp::create(b, loc, mids, safe);
  Value tie = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, mid);
  Value odd = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne,
      arith::RemUIOp::create(b, loc, pos, indexConstant(b, loc, 2)),
      indexConstant(b, loc, 0));
  Value up = arith::AndIOp::create(
      b, loc, inRange, arith::AndIOp::create(b, loc, tie, odd));
  pos = arith::SelectOp::create(
      b, loc, up, arith::AddIOp::create(b, loc, pos, indexConstant(b, loc, 1)),
      pos);
  return arith::IndexCastUIOp::create(b, loc, b.getI8Type(), pos);
}

struct QuantizeBlockwiseLowering
    : public OpConversionPattern<QuantizeBlockwiseOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QuantizeBlockwiseOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = op.getInput().getType();
    if (!inputType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    int64_t n = inputType.getNumElements();
    int64_t blocksize = op.getBlocksize();
    Type f32 = rewriter.getF32Type();
    Value flat = flatten(rewriter, loc, adaptor.getInput());
    Value absmax = blockAbsmax(rewriter, loc, flat, n, blocksize);
    std::array<float, 255> midValues = dynamicMapMidpoints();
    Value mids = f32TableConstant(rewriter, loc, midValues);
    Value codes = generateTensor(
        rewriter, loc, {n}, rewriter.getI8Type(), ValueRange{},
        [&](OpBuilder &b, Location l, ValueRange idx) {
          Value x = castFloatScalar(
              b, l, tensor::ExtractOp::create(b, l, flat, idx[0]), f32);
          Value block =
              arith::DivUIOp::create(b, l, idx[0], indexConstant(b, l, blocksize));
          Value scale = tensor::ExtractOp::create(b, l, absmax, block);
          return encodeDynamic(b, l, normalize(b, l, x, scale), mids);
        });
    auto resultType = op.getResult().getType();
    Value shaped = unflatten(rewriter, loc, codes,
                             resultType.clone(rewriter.getI8Type()));
    rewriter.replaceOp(op, {bitcastBytes(rewriter, loc, shaped,
                                         resultType.getElementType()),
                            absmax});
    return success();
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
          Value block =
              arith::DivUIOp::create(b, l, idx[0], indexConstant(b, l, blocksize));
          Value scale = tensor::ExtractOp::create(b, l, absmax, block);
          Value value = arith::MulFOp::create(b, l, lookup(b, l, map, code), scale);
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
