//===- Codebooks.cpp - device-side code book lookups and quantizers -------===//
//
// Lookups into the NF4/FP4 code books and the dynamic 8-bit map, the 4-bit
// quantization decision rules, the absmax reconstruction of double
// quantization, and the target description.
//
//===----------------------------------------------------------------------===//

#include "CodeTables.h"
#include "Kernels.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;
using arith::CmpFPredicate;
using arith::CmpIPredicate;

GPUTarget GPUTarget::get(StringRef chip) {
  GPUTarget target;
  target.chip = chip.str();
  // A100 has 108 SMs; H100 SXM 132. Other parts differ a little, which only
  // changes how evenly the last wave of blocks fills the machine.
  if (chip.starts_with("sm_80"))
    target.numSMs = 108;
  else if (chip.starts_with("sm_90"))
    target.numSMs = 132;
  return target;
}

std::string mlir::bnb::gpu::typeTag(Type type) {
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isF32())
    return "f32";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type;
  return s;
}

Value mlir::bnb::gpu::lookupCode4bit(KernelBuilder &b, QuantType quantType,
                                     Value code) {
  bool nf4 = quantType == QuantType::nf4;
  Value table =
      b.constantTable(nf4 ? "bnb_nf4_code" : "bnb_fp4_code", b.getF32Type(),
                      nf4 ? ArrayRef<uint32_t>(kNF4Bits)
                          : ArrayRef<uint32_t>(kFP4Bits));
  return b.load(table, b.toIndex(code));
}

Value mlir::bnb::gpu::quantizeCode4bit(KernelBuilder &b, QuantType quantType,
                                       Value x) {
  Type i32 = b.getI32Type();
  if (quantType == QuantType::nf4) {
    // code = #{k : x > T_k}: ties go to the lower code, NaN to 0.
    Value code = b.i32(0);
    for (uint32_t bits : kNF4ThresholdBits)
      code = b.add(code, b.zext(b.cmpf(CmpFPredicate::OGT, x, b.f32Bits(bits)),
                                i32));
    return code;
  }
  // FP4: sign from x < 0 (so -0.0 and NaN get 0), magnitude index from |x|.
  Value mag = b.fabs(x);
  Value m = b.i32(0);
  for (uint32_t bits : kFP4ThresholdBits)
    m = b.add(m, b.zext(b.cmpf(CmpFPredicate::OGT, mag, b.f32Bits(bits)), i32));
  Value code = b.i32(kFP4MagnitudeCode[0]);
  for (int64_t k = 1; k < 8; ++k)
    code = b.select(b.cmpi(CmpIPredicate::eq, m, k),
                    b.i32(kFP4MagnitudeCode[k]), code);
  Value negative = b.cmpf(CmpFPredicate::OLT, x, b.f32(0.0f));
  return b.select(negative, b.add(code, 8), code);
}

Value mlir::bnb::gpu::lookupDynamicMap(KernelBuilder &b, Value code) {
  Value table =
      b.constantTable("bnb_dynamic_map", b.getF32Type(), kDynamicMapBits);
  return b.load(table, b.toIndex(code));
}

Value mlir::bnb::gpu::loadBlockAbsmax(KernelBuilder &b, Value absmax,
                                      Value nestedAbsmax,
                                      std::optional<float> nestedOffset,
                                      Value blockIndex) {
  Value index = b.toIndex(blockIndex);
  if (!nestedAbsmax)
    return b.load(absmax, index);
  Value q = b.zext(b.loadByte(absmax, index), b.getI32Type());
  Value scale = b.load(nestedAbsmax, b.divu(index, 256));
  Value v = b.fmul(lookupDynamicMap(b, q), scale);
  return b.fadd(v, b.f32(nestedOffset.value_or(0.0f)));
}
