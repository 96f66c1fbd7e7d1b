//===- SimTypes.cpp - type helpers of bnb-gpu-sim -------------------------===//

#include "SimInternal.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

namespace bnb::sim {

unsigned bitWidthOf(Type t) {
  if (t.isIndex())
    return 64;
  return t.getIntOrFloatBitWidth();
}

Type elementTypeOf(Type t) {
  if (auto v = dyn_cast<VectorType>(t))
    return v.getElementType();
  return t;
}

unsigned widthOf(Type t) {
  if (auto v = dyn_cast<VectorType>(t))
    return v.getNumElements();
  if (auto s = dyn_cast<LLVM::LLVMStructType>(t))
    return s.getBody().size();
  return 1;
}

uint64_t truncBits(uint64_t v, unsigned w) {
  return w >= 64 ? v : v & ((uint64_t(1) << w) - 1);
}

int64_t signExtend(uint64_t v, unsigned w) {
  if (w >= 64)
    return static_cast<int64_t>(v);
  uint64_t m = uint64_t(1) << (w - 1);
  v = truncBits(v, w);
  return static_cast<int64_t>((v ^ m) - m);
}

APFloat toFloat(Type t, uint64_t bits) {
  return APFloat(cast<FloatType>(t).getFloatSemantics(),
                 APInt(bitWidthOf(t), bits));
}

uint64_t fromFloat(const APFloat &f) {
  return f.bitcastToAPInt().getZExtValue();
}

APFloat convertFloat(APFloat v, Type to) {
  bool lost;
  v.convert(cast<FloatType>(to).getFloatSemantics(),
            APFloat::rmNearestTiesToEven, &lost);
  return v;
}

double toDouble(Type t, uint64_t bits) {
  return convertFloat(toFloat(t, bits), Float64Type::get(t.getContext()))
      .convertToDouble();
}

uint64_t fromDouble(Type t, double v) {
  return fromFloat(convertFloat(APFloat(v), t));
}

unsigned elementBytes(Type t) { return (bitWidthOf(t) + 7) / 8; }

std::string dtypeOf(Type t) {
  if (t.isF16())
    return "<f2";
  if (t.isBF16())
    return "<u2";
  if (t.isF32())
    return "<f4";
  if (t.isF64())
    return "<f8";
  if (t.isInteger(1))
    return "|b1";
  if (auto i = dyn_cast<IntegerType>(t)) {
    std::string kind = i.isUnsigned() ? "u" : "i";
    unsigned bytes = elementBytes(t);
    return (bytes == 1 ? "|" : "<") + kind + std::to_string(bytes);
  }
  if (t.isIndex())
    return "<i8";
  return "";
}

} // namespace bnb::sim
