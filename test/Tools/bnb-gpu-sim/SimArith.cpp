//===- SimArith.cpp - arithmetic of bnb-gpu-sim ---------------------------===//

#include "SimInternal.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/APSInt.h"

#include <cmath>

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

LogicalResult OpRunner::constant(arith::ConstantOp c) {
  LaneValues &r = result();
  Attribute attr = c.getValue();
  SmallVector<uint64_t> words;
  if (auto i = dyn_cast<IntegerAttr>(attr))
    words.push_back(i.getValue().getZExtValue());
  else if (auto f = dyn_cast<FloatAttr>(attr))
    words.push_back(fromFloat(f.getValue()));
  else if (auto d = dyn_cast<DenseElementsAttr>(attr)) {
    int64_t n = cast<ShapedType>(d.getType()).getNumElements();
    if (isa<FloatType>(d.getElementType()))
      for (APFloat v : d.getValues<APFloat>())
        words.push_back(fromFloat(v));
    else
      for (APInt v : d.getValues<APInt>())
        words.push_back(v.getZExtValue());
    words.resize(n, words.empty() ? 0 : words.back());
  } else {
    return fail("unsupported constant");
  }
  for (unsigned l = 0; l < frame.lanes; ++l)
    for (unsigned i = 0; i < r.width; ++i)
      r.at(l, i) = words[i];
  return success();
}

LogicalResult OpRunner::intBinary() {
  Type t = elementTypeOf(op->getResult(0).getType());
  unsigned w = bitWidthOf(t);
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      uint64_t x = truncBits(a.at(l, i), w), y = truncBits(b.at(l, i), w);
      int64_t sx = signExtend(x, w), sy = signExtend(y, w);
      uint64_t v;
      auto needNonZero = [&]() -> LogicalResult {
        if (y == 0)
          return fail("integer division by zero");
        return success();
      };
      if (isa<arith::AddIOp>(op))
        v = x + y;
      else if (isa<arith::SubIOp>(op))
        v = x - y;
      else if (isa<arith::MulIOp>(op))
        v = x * y;
      else if (isa<arith::AndIOp>(op))
        v = x & y;
      else if (isa<arith::OrIOp>(op))
        v = x | y;
      else if (isa<arith::XOrIOp>(op))
        v = x ^ y;
      else if (isa<arith::ShLIOp>(op))
        v = y >= w ? 0 : x << y;
      else if (isa<arith::ShRUIOp>(op))
        v = y >= w ? 0 : x >> y;
      else if (isa<arith::ShRSIOp>(op))
        v = static_cast<uint64_t>(y >= w ? (sx < 0 ? -1 : 0) : sx >> y);
      else if (isa<arith::MinUIOp>(op))
        v = std::min(x, y);
      else if (isa<arith::MaxUIOp>(op))
        v = std::max(x, y);
      else if (isa<arith::MinSIOp>(op))
        v = static_cast<uint64_t>(std::min(sx, sy));
      else if (isa<arith::MaxSIOp>(op))
        v = static_cast<uint64_t>(std::max(sx, sy));
      else {
        if (failed(needNonZero()))
          return failure();
        if (isa<arith::DivUIOp>(op))
          v = x / y;
        else if (isa<arith::RemUIOp>(op))
          v = x % y;
        else if (isa<arith::CeilDivUIOp>(op))
          v = x / y + (x % y != 0);
        else if (isa<arith::DivSIOp>(op))
          v = static_cast<uint64_t>(sx / sy);
        else if (isa<arith::RemSIOp>(op))
          v = static_cast<uint64_t>(sx % sy);
        else if (isa<arith::FloorDivSIOp>(op))
          v = static_cast<uint64_t>(sx / sy - ((sx % sy != 0) && ((sx < 0) != (sy < 0))));
        else if (isa<arith::CeilDivSIOp>(op))
          v = static_cast<uint64_t>(sx / sy + ((sx % sy != 0) && ((sx < 0) == (sy < 0))));
        else
          return fail("unsupported integer op");
      }
      r.at(l, i) = truncBits(v, w);
    }
  }
  return success();
}

LogicalResult OpRunner::floatBinary() {
  Type t = elementTypeOf(op->getResult(0).getType());
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      APFloat x = toFloat(t, a.at(l, i)), y = toFloat(t, b.at(l, i));
      auto rm = APFloat::rmNearestTiesToEven;
      if (isa<arith::AddFOp>(op))
        x.add(y, rm);
      else if (isa<arith::SubFOp>(op))
        x.subtract(y, rm);
      else if (isa<arith::MulFOp>(op))
        x.multiply(y, rm);
      else if (isa<arith::DivFOp>(op))
        x.divide(y, rm);
      else if (isa<arith::MaxNumFOp>(op))
        x = llvm::maxnum(x, y);
      else if (isa<arith::MinNumFOp>(op))
        x = llvm::minnum(x, y);
      else if (isa<arith::MaximumFOp>(op))
        x = llvm::maximum(x, y);
      else if (isa<arith::MinimumFOp>(op))
        x = llvm::minimum(x, y);
      else if (isa<arith::RemFOp>(op))
        x.mod(y);
      else if (isa<math::PowFOp>(op))
        x = convertFloat(APFloat(std::pow(x.convertToDouble(), y.convertToDouble())), t);
      else if (isa<math::CopySignOp>(op))
        x.copySign(y);
      else
        return fail("unsupported float op");
      r.at(l, i) = fromFloat(x);
    }
  }
  return success();
}

LogicalResult OpRunner::fma() {
  Type t = elementTypeOf(op->getResult(0).getType());
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1)),
             &c = get(op->getOperand(2));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      APFloat x = toFloat(t, a.at(l, i));
      x.fusedMultiplyAdd(toFloat(t, b.at(l, i)), toFloat(t, c.at(l, i)),
                         APFloat::rmNearestTiesToEven);
      r.at(l, i) = fromFloat(x);
    }
  }
  return success();
}

LogicalResult OpRunner::floatUnary() {
  Type t = elementTypeOf(op->getResult(0).getType());
  LaneValues &a = get(op->getOperand(0));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      APFloat x = toFloat(t, a.at(l, i));
      double d = toDouble(t, a.at(l, i));
      if (isa<math::AbsFOp>(op))
        x.clearSign();
      else if (isa<arith::NegFOp>(op))
        x.changeSign();
      else if (isa<math::RoundEvenOp>(op))
        x.roundToIntegral(APFloat::rmNearestTiesToEven);
      else if (isa<math::FloorOp>(op))
        x.roundToIntegral(APFloat::rmTowardNegative);
      else if (isa<math::CeilOp>(op))
        x.roundToIntegral(APFloat::rmTowardPositive);
      else if (isa<math::SqrtOp>(op))
        x = convertFloat(APFloat(std::sqrt(d)), t);
      else if (isa<math::RsqrtOp>(op))
        x = convertFloat(APFloat(1.0 / std::sqrt(d)), t);
      else if (isa<math::ExpOp>(op))
        x = convertFloat(APFloat(std::exp(d)), t);
      else if (isa<math::Exp2Op>(op))
        x = convertFloat(APFloat(std::exp2(d)), t);
      else if (isa<math::LogOp>(op))
        x = convertFloat(APFloat(std::log(d)), t);
      else if (isa<math::TanhOp>(op))
        x = convertFloat(APFloat(std::tanh(d)), t);
      else if (isa<math::ErfOp>(op))
        x = convertFloat(APFloat(std::erf(d)), t);
      else if (isa<math::SinOp>(op))
        x = convertFloat(APFloat(std::sin(d)), t);
      else if (isa<math::CosOp>(op))
        x = convertFloat(APFloat(std::cos(d)), t);
      else
        return fail("unsupported unary float op");
      r.at(l, i) = fromFloat(x);
    }
  }
  return success();
}

LogicalResult OpRunner::conversion() {
  Type from = elementTypeOf(op->getOperand(0).getType());
  Type to = elementTypeOf(op->getResult(0).getType());
  unsigned fw = bitWidthOf(from), tw = bitWidthOf(to);
  LaneValues &a = get(op->getOperand(0));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      uint64_t x = a.at(l, i), v;
      if (isa<arith::ExtUIOp, arith::IndexCastUIOp, arith::TruncIOp>(op))
        v = truncBits(truncBits(x, fw), tw);
      else if (isa<arith::ExtSIOp, arith::IndexCastOp>(op))
        v = truncBits(static_cast<uint64_t>(signExtend(x, fw)), tw);
      else if (isa<arith::ExtFOp, arith::TruncFOp>(op))
        v = fromFloat(convertFloat(toFloat(from, x), to));
      else if (isa<arith::SIToFPOp, arith::UIToFPOp>(op)) {
        APFloat f(cast<FloatType>(to).getFloatSemantics());
        bool isSigned = isa<arith::SIToFPOp>(op);
        APInt iv(fw, truncBits(x, fw));
        f.convertFromAPInt(iv, isSigned, APFloat::rmNearestTiesToEven);
        v = fromFloat(f);
      } else if (isa<arith::FPToSIOp, arith::FPToUIOp>(op)) {
        APFloat f = toFloat(from, x);
        if (f.isNaN() || f.isInfinity())
          return fail("float to int conversion of NaN or infinity is poison");
        llvm::APSInt iv(tw, isa<arith::FPToUIOp>(op));
        bool exact;
        f.convertToInteger(iv, APFloat::rmTowardZero, &exact);
        v = truncBits(iv.getZExtValue(), tw);
      } else if (isa<arith::BitcastOp>(op)) {
        v = x;
      } else {
        return fail("unsupported cast");
      }
      r.at(l, i) = v;
    }
  }
  return success();
}

LogicalResult OpRunner::cmp() {
  Type t = elementTypeOf(op->getOperand(0).getType());
  unsigned w = bitWidthOf(t);
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      bool v = false;
      if (auto c = dyn_cast<arith::CmpIOp>(op)) {
        uint64_t x = truncBits(a.at(l, i), w), y = truncBits(b.at(l, i), w);
        int64_t sx = signExtend(x, w), sy = signExtend(y, w);
        using P = arith::CmpIPredicate;
        switch (c.getPredicate()) {
        case P::eq: v = x == y; break;
        case P::ne: v = x != y; break;
        case P::ult: v = x < y; break;
        case P::ule: v = x <= y; break;
        case P::ugt: v = x > y; break;
        case P::uge: v = x >= y; break;
        case P::slt: v = sx < sy; break;
        case P::sle: v = sx <= sy; break;
        case P::sgt: v = sx > sy; break;
        case P::sge: v = sx >= sy; break;
        }
      } else {
        auto fc = cast<arith::CmpFOp>(op);
        APFloat x = toFloat(t, a.at(l, i)), y = toFloat(t, b.at(l, i));
        APFloat::cmpResult res = x.compare(y);
        bool unordered = res == APFloat::cmpUnordered;
        bool lt = res == APFloat::cmpLessThan, gt = res == APFloat::cmpGreaterThan,
             eq = res == APFloat::cmpEqual;
        using P = arith::CmpFPredicate;
        switch (fc.getPredicate()) {
        case P::AlwaysFalse: v = false; break;
        case P::OEQ: v = eq; break;
        case P::OGT: v = gt; break;
        case P::OGE: v = gt || eq; break;
        case P::OLT: v = lt; break;
        case P::OLE: v = lt || eq; break;
        case P::ONE: v = lt || gt; break;
        case P::ORD: v = !unordered; break;
        case P::UEQ: v = unordered || eq; break;
        case P::UGT: v = unordered || gt; break;
        case P::UGE: v = unordered || gt || eq; break;
        case P::ULT: v = unordered || lt; break;
        case P::ULE: v = unordered || lt || eq; break;
        case P::UNE: v = !eq; break;
        case P::UNO: v = unordered; break;
        case P::AlwaysTrue: v = true; break;
        }
      }
      r.at(l, i) = v;
    }
  }
  return success();
}

LogicalResult OpRunner::select(arith::SelectOp s) {
  LaneValues &c = get(s.getCondition()), &a = get(s.getTrueValue()),
             &b = get(s.getFalseValue());
  LaneValues &r = result();
  bool scalarCond = c.width == 1;
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i)
      r.at(l, i) = (scalarCond ? c.at(l) : c.at(l, i)) & 1 ? a.at(l, i)
                                                           : b.at(l, i);
  }
  return success();
}
