//===- PrequantizedConfig.h - --config against a pre-quantized graph -*- C++
//-*-===//
//
// A graph imported from a pre-quantized bitsandbytes checkpoint carries the
// checkpoint's quantization_config as its bnb.config, and its layers hold the
// stored quantized state. Compiling it with another config would describe a
// different model than the bytes it holds, so bnb-compile refuses that.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TOOLS_BNB_COMPILE_PREQUANTIZEDCONFIG_H
#define BNB_TOOLS_BNB_COMPILE_PREQUANTIZEDCONFIG_H

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace bnb::tools {

/// True when `module` holds a bnb.linear_int8 or bnb.linear_4bit whose
/// weight is already quantized (the graph of a pre-quantized checkpoint).
bool hasPrequantizedLayers(mlir::ModuleOp module);

/// When `module` has pre-quantized layers and a bnb.config, the first field
/// in which `given` (from `configPath`) differs from it, as a one-line error
/// message; empty when they agree or the check does not apply.
std::string prequantizedConfigConflict(mlir::ModuleOp module,
                                       mlir::bnb::ConfigAttr given,
                                       llvm::StringRef configPath);

} // namespace bnb::tools

#endif // BNB_TOOLS_BNB_COMPILE_PREQUANTIZEDCONFIG_H
