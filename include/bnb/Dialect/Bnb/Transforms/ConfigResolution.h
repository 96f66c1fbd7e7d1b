//===- ConfigResolution.h - BitsAndBytesConfig from module and options -*- C++ -*-===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_CONFIGRESOLUTION_H
#define BNB_DIALECT_BNB_TRANSFORMS_CONFIGRESOLUTION_H

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::bnb {

/// Config fields given explicitly (pass options); unset fields keep the
/// module's value.
struct ConfigOverrides {
  std::optional<bool> loadIn8bit, loadIn4bit;
  std::optional<double> threshold;
  std::optional<std::vector<std::string>> skipModules;
  std::optional<bool> enableFp32CpuOffload, hasFp16Weight;
  std::optional<std::string> computeDtype, quantType;
  std::optional<bool> useDoubleQuant;
  std::optional<std::string> quantStorage;
};

/// The config fields given in `options`: the options of bnb-replace-linear or
/// of the bnb-quantize pipeline, which name them alike. One conversion for
/// both, so the pipeline hands the pass a struct instead of an option string.
template <typename OptionsT>
ConfigOverrides overridesFromOptions(const OptionsT &options) {
  ConfigOverrides o;
  auto take = [](auto &field, const auto &option) {
    if (option.hasValue())
      field = option.getValue();
  };
  take(o.loadIn8bit, options.loadIn8bit);
  take(o.loadIn4bit, options.loadIn4bit);
  take(o.threshold, options.llmInt8Threshold);
  if (options.llmInt8SkipModules.hasValue())
    o.skipModules = std::vector<std::string>(options.llmInt8SkipModules.begin(),
                                             options.llmInt8SkipModules.end());
  take(o.enableFp32CpuOffload, options.llmInt8EnableFp32CpuOffload);
  take(o.hasFp16Weight, options.llmInt8HasFp16Weight);
  take(o.computeDtype, options.bnb4bitComputeDtype);
  take(o.quantType, options.bnb4bitQuantType);
  take(o.useDoubleQuant, options.bnb4bitUseDoubleQuant);
  take(o.quantStorage, options.bnb4bitQuantStorage);
  return o;
}

/// The module's `bnb.config` (or the defaults) with `overrides` applied and
/// validated as transformers validates a BitsAndBytesConfig. Errors are
/// reported at the module's location.
FailureOr<ConfigAttr> resolveConfig(ModuleOp module,
                                    const ConfigOverrides &overrides);

/// The module's config or the transformers defaults when it has none.
ConfigAttr getModuleConfig(ModuleOp module);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_TRANSFORMS_CONFIGRESOLUTION_H
