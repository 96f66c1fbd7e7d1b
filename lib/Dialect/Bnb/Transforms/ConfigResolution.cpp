//===- ConfigResolution.cpp - BitsAndBytesConfig from module and options ---===//

#include "bnb/Dialect/Bnb/Transforms/ConfigResolution.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::bnb;

ConfigAttr mlir::bnb::getModuleConfig(ModuleOp module) {
  if (auto config =
          module->getAttrOfType<ConfigAttr>(ConfigAttr::getModuleAttrName()))
    return config;
  return ConfigAttr::getDefault(module.getContext());
}

FailureOr<ConfigAttr>
mlir::bnb::resolveConfig(ModuleOp module, const ConfigOverrides &overrides) {
  MLIRContext *ctx = module.getContext();
  Attribute raw = module->getAttr(ConfigAttr::getModuleAttrName());
  if (raw && !isa<ConfigAttr>(raw))
    return module.emitError() << "module attribute '"
                              << ConfigAttr::getModuleAttrName()
                              << "' must be a #bnb.config";
  ConfigAttr base = getModuleConfig(module);

  bool loadIn8bit = overrides.loadIn8bit.value_or(base.getLoadIn8bit());
  bool loadIn4bit = overrides.loadIn4bit.value_or(base.getLoadIn4bit());
  llvm::APFloat threshold =
      overrides.threshold ? llvm::APFloat(*overrides.threshold)
                          : base.getLlmInt8Threshold();
  ArrayAttr skipModules = base.getLlmInt8SkipModules();
  if (overrides.skipModules) {
    SmallVector<Attribute> names;
    for (const std::string &name : *overrides.skipModules)
      names.push_back(StringAttr::get(ctx, name));
    skipModules = ArrayAttr::get(ctx, names);
  }
  Type computeDtype = base.getBnb4bitComputeDtype();
  if (overrides.computeDtype) {
    computeDtype = parseDtypeName(ctx, *overrides.computeDtype);
    if (!computeDtype || !isValidComputeDtype(computeDtype))
      return module.emitError()
             << "bnb_4bit_compute_dtype must be float16, bfloat16 or float32, "
                "got '"
             << *overrides.computeDtype << "'";
  }
  QuantType quantType = base.getBnb4bitQuantType();
  if (overrides.quantType) {
    std::optional<QuantType> parsed = symbolizeQuantType(*overrides.quantType);
    if (!parsed)
      return module.emitError() << "unknown bnb_4bit_quant_type '"
                                << *overrides.quantType
                                << "' (expected \"nf4\" or \"fp4\")";
    quantType = *parsed;
  }
  Type quantStorage = base.getBnb4bitQuantStorage();
  if (overrides.quantStorage) {
    quantStorage = parseDtypeName(ctx, *overrides.quantStorage);
    if (!quantStorage || !isValidQuantStorage(quantStorage))
      return module.emitError()
             << "bnb_4bit_quant_storage must be one of float16, float32, int8, "
                "uint8, float64, bfloat16, got '"
             << *overrides.quantStorage << "'";
  }
  ConfigAttr config = ConfigAttr::getChecked(
      [&] { return module.emitError(); }, ctx, loadIn8bit, loadIn4bit,
      threshold, skipModules,
      overrides.enableFp32CpuOffload.value_or(
          base.getLlmInt8EnableFp32CpuOffload()),
      overrides.hasFp16Weight.value_or(base.getLlmInt8HasFp16Weight()),
      computeDtype, quantType,
      overrides.useDoubleQuant.value_or(base.getBnb4bitUseDoubleQuant()),
      quantStorage);
  if (!config)
    return failure();
  return config;
}
