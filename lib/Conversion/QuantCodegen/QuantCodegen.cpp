//===- QuantCodegen.cpp - bitsandbytes' numerics as scalar IR -------------===//
//
// Every float operation here is a separate arith/math op without fast-math
// flags, so no backend may contract or reassociate it: the roundings are the
// ones docs/numerics.md lists, and the only fused operation is the explicit
// math.fma of the int8 dequantization.
//
//===----------------------------------------------------------------------===//

#include "bnb/Conversion/QuantCodegen.h"

#include "bnb/Quant/Int8.h"
#include "bnb/Quant/Tables.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cstdint>
#include <limits>

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::codegen;
using arith::CmpFPredicate;
using arith::CmpIPredicate;
namespace bq = ::bnb::quant;

namespace {

Value f32Constant(OpBuilder &b, Location loc, float value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

Value i32Constant(OpBuilder &b, Location loc, int32_t value) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(value));
}

/// The FP4 magnitude code (i32) of the count of FP4 thresholds below |x|.
Value fp4MagnitudeCode(OpBuilder &b, Location loc, Value rank) {
  Value code = i32Constant(b, loc, bq::fp4MagnitudeCode(0));
  for (unsigned r = 1; r < 8; ++r) {
    Value hit = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, rank,
                                      i32Constant(b, loc, r));
    code = arith::SelectOp::create(
        b, loc, hit, i32Constant(b, loc, bq::fp4MagnitudeCode(r)), code);
  }
  return code;
}

} // namespace

ArrayRef<float> codegen::codeTable4bit(QuantType quantType) {
  return quantType == QuantType::nf4 ? ArrayRef<float>(bq::kNF4Table)
                                     : ArrayRef<float>(bq::kFP4Table);
}

Value codegen::emitReciprocal(OpBuilder &b, Location loc, Value absmax) {
  return arith::DivFOp::create(b, loc, f32Constant(b, loc, 1.0f), absmax);
}

Value codegen::emitNormalize(OpBuilder &b, Location loc, Value x,
                             Value inverse) {
  return arith::MulFOp::create(b, loc, x, inverse);
}

Value codegen::emitCountBelow(OpBuilder &b, Location loc, Value x,
                              ArrayRef<float> thresholds) {
  Type i32 = b.getI32Type();
  Value count = i32Constant(b, loc, 0);
  for (float threshold : thresholds) {
    // Ordered: a NaN x is above no threshold.
    Value above = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, x,
                                        f32Constant(b, loc, threshold));
    count = arith::AddIOp::create(b, loc, count,
                                  arith::ExtUIOp::create(b, loc, i32, above));
  }
  return count;
}

Value codegen::emitEncode4bit(OpBuilder &b, Location loc, QuantType quantType,
                              Value x) {
  if (quantType == QuantType::nf4)
    return emitCountBelow(b, loc, x, bq::kNF4Thresholds);
  Value magnitude = math::AbsFOp::create(b, loc, x);
  Value code = fp4MagnitudeCode(
      b, loc, emitCountBelow(b, loc, magnitude, bq::kFP4Thresholds));
  Value negative = arith::CmpFOp::create(b, loc, CmpFPredicate::OLT, x,
                                         f32Constant(b, loc, 0.0f));
  Value sign = arith::SelectOp::create(b, loc, negative, i32Constant(b, loc, 8),
                                       i32Constant(b, loc, 0));
  return arith::OrIOp::create(b, loc, code, sign);
}

Value codegen::emitPackNibbles(OpBuilder &b, Location loc, Value high,
                               Value low) {
  Value shifted = arith::ShLIOp::create(b, loc, high, i32Constant(b, loc, 4));
  return arith::OrIOp::create(b, loc, shifted, low);
}

Value codegen::emitUnpackNibble(OpBuilder &b, Location loc, Value byte,
                                Value isOdd) {
  Value high = arith::ShRUIOp::create(b, loc, byte, i32Constant(b, loc, 4));
  Value low = arith::AndIOp::create(b, loc, byte, i32Constant(b, loc, 15));
  return arith::SelectOp::create(b, loc, isOdd, low, high);
}

Value codegen::emitEncodeDynamic(OpBuilder &b, Location loc, Value x,
                                 TableLookupFn dynamicMap) {
  // i = the largest index with map[i] <= x (0 when there is none), by a
  // binary search that never leaves [0, 255].
  Value i = i32Constant(b, loc, 0);
  for (int32_t step = 128; step >= 1; step /= 2) {
    Value candidate =
        arith::AddIOp::create(b, loc, i, i32Constant(b, loc, step));
    Value entry = dynamicMap(b, loc, candidate);
    Value fits = arith::CmpFOp::create(b, loc, CmpFPredicate::OLE, entry, x);
    i = arith::SelectOp::create(b, loc, fits, candidate, i);
  }
  // Then the nearer of i and i + 1, split at their f32 midpoint.
  Value next = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, i, i32Constant(b, loc, 1)),
      i32Constant(b, loc, 255));
  Value lo = dynamicMap(b, loc, i);
  Value hi = dynamicMap(b, loc, next);
  Value mid = arith::MulFOp::create(b, loc,
                                    arith::AddFOp::create(b, loc, lo, hi),
                                    f32Constant(b, loc, 0.5f));
  Value iIsEven = arith::CmpIOp::create(
      b, loc, CmpIPredicate::eq,
      arith::AndIOp::create(b, loc, i, i32Constant(b, loc, 1)),
      i32Constant(b, loc, 0));
  Value evenPick = arith::SelectOp::create(b, loc, iIsEven, i, next);
  Value belowMid = arith::CmpFOp::create(b, loc, CmpFPredicate::OLT, x, mid);
  Value aboveMid = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, x, mid);
  Value nearest = arith::SelectOp::create(
      b, loc, aboveMid, next,
      arith::SelectOp::create(b, loc, belowMid, i, evenPick));
  Value isNaN = arith::CmpFOp::create(b, loc, CmpFPredicate::UNO, x, x);
  return arith::SelectOp::create(b, loc, isNaN, i32Constant(b, loc, 0),
                                 nearest);
}

Value codegen::emitDequantizeValue(OpBuilder &b, Location loc, Value codeValue,
                                   Value absmax) {
  return arith::MulFOp::create(b, loc, codeValue, absmax);
}

Value codegen::emitDoubleQuantAbsmax(OpBuilder &b, Location loc, Value code,
                                     Value nestedAbsmax, Value offset,
                                     TableLookupFn dynamicMap) {
  // Two roundings, as bitsandbytes' unfused path: no FMA.
  Value scaled =
      arith::MulFOp::create(b, loc, dynamicMap(b, loc, code), nestedAbsmax);
  return arith::AddFOp::create(b, loc, scaled, offset);
}

Value codegen::emitInt8RowScale(OpBuilder &b, Location loc, Value absmax) {
  float range = std::numeric_limits<int8_t>::max();
  return arith::MulFOp::create(b, loc, f32Constant(b, loc, range),
                               emitReciprocal(b, loc, absmax));
}

Value codegen::emitRoundToInt8(OpBuilder &b, Location loc, Value v) {
  Value rounded = math::RoundEvenOp::create(b, loc, v);
  // Saturate to int32 explicitly: fptosi of an out-of-range value is poison,
  // while the kernel's cvt.rni saturates. 2147483520 is the largest f32 below
  // 2^31; values from 2^31 up become INT32_MAX.
  Value tooLarge = arith::CmpFOp::create(b, loc, CmpFPredicate::OGE, rounded,
                                         f32Constant(b, loc, 2147483648.0f));
  Value clamped = arith::MaxNumFOp::create(
      b, loc,
      arith::MinNumFOp::create(b, loc, rounded,
                               f32Constant(b, loc, 2147483520.0f)),
      f32Constant(b, loc, -2147483648.0f));
  Value isNaN =
      arith::CmpFOp::create(b, loc, CmpFPredicate::UNO, rounded, rounded);
  Value finite = arith::SelectOp::create(b, loc, isNaN,
                                         f32Constant(b, loc, 0.0f), clamped);
  Type i32 = b.getI32Type();
  Value wide = arith::FPToSIOp::create(b, loc, i32, finite);
  wide = arith::SelectOp::create(
      b, loc, tooLarge,
      i32Constant(b, loc, std::numeric_limits<int32_t>::max()), wide);
  // The low byte, as the kernel's store of an int into an int8_t.
  return arith::TruncIOp::create(b, loc, b.getI8Type(), wide);
}

Value codegen::emitDequantizeInt8(OpBuilder &b, Location loc, Value c,
                                  Value rowStat, Value colStat, Value bias) {
  Value v = arith::SIToFPOp::create(b, loc, b.getF32Type(), c);
  v = arith::MulFOp::create(b, loc, v, rowStat);
  v = arith::MulFOp::create(b, loc, v, colStat);
  if (!bias)
    bias = f32Constant(b, loc, 0.0f);
  v = math::FmaOp::create(
      b, loc, v, f32Constant(b, loc, bq::kInt8MatmulDequantScale), bias);
  return arith::TruncFOp::create(b, loc, b.getF16Type(), v);
}

Value codegen::emitDequantizeInt8Weight(OpBuilder &b, Location loc, Value cb,
                                        Value scb) {
  Value w = arith::SIToFPOp::create(b, loc, b.getF32Type(), cb);
  w = arith::MulFOp::create(b, loc, w, scb);
  return arith::MulFOp::create(
      b, loc, w, f32Constant(b, loc, bq::kInt8WeightDequantScale));
}
