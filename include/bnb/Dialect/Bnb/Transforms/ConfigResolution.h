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

/// The module's `bnb.config` (or the defaults) with `overrides` applied and
/// validated as transformers validates a BitsAndBytesConfig. Errors are
/// reported at the module's location.
FailureOr<ConfigAttr> resolveConfig(ModuleOp module,
                                    const ConfigOverrides &overrides);

/// The module's config or the transformers defaults when it has none.
ConfigAttr getModuleConfig(ModuleOp module);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_TRANSFORMS_CONFIGRESOLUTION_H
