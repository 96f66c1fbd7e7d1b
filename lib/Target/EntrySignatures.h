//===- EntrySignatures.h - entry points of a prepared module ------*- C++ -*-===//

#ifndef BNB_LIB_TARGET_ENTRYSIGNATURES_H
#define BNB_LIB_TARGET_ENTRYSIGNATURES_H

#include "bnb/Target/Manifest.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace bnb {

/// The entry points of a module after bnb-externalize-weights: every public
/// function with a body, its tensor arguments split into inputs and weights
/// (tagged bnb.weight), its results as outputs.
llvm::Expected<std::vector<EntryPoint>>
collectEntryPoints(mlir::ModuleOp module);

} // namespace bnb

#endif // BNB_LIB_TARGET_ENTRYSIGNATURES_H
