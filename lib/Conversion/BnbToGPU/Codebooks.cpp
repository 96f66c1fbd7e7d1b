//===- Codebooks.cpp - device-side code book lookups ----------------------===//
//
// Lookups into the NF4/FP4 code books and the dynamic 8-bit map (the GPU's
// table lookups for QuantCodegen), and the target description.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include "bnb/Conversion/QuantCodegen.h"
#include "bnb/Quant/Tables.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;
namespace bq = ::bnb::quant;

SmallVector<uint32_t> mlir::bnb::gpu::f32BitPatterns(ArrayRef<float> values) {
  return llvm::map_to_vector(values, [](float v) {
    return llvm::bit_cast<uint32_t>(v);
  });
}

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
  Value table = b.constantTable(
      quantType == QuantType::nf4 ? "bnb_nf4_code" : "bnb_fp4_code",
      b.getF32Type(), f32BitPatterns(codegen::codeTable4bit(quantType)));
  return b.load(table, b.toIndex(code));
}

Value mlir::bnb::gpu::lookupDynamicMap(KernelBuilder &b, Value code) {
  Value table = b.constantTable("bnb_dynamic_map", b.getF32Type(),
                                f32BitPatterns(bq::kDynamicMap));
  return b.load(table, b.toIndex(code));
}
