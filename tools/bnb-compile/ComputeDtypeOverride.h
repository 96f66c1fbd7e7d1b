//===- ComputeDtypeOverride.h - bnb-compile --bnb-4bit-compute-dtype -*- C++
//-*-===//
//
// The compute dtype of a 4-bit layer is not part of its stored state: the
// packed codes and absmax are the same for every compute dtype. bnb-compile
// can therefore compile a graph, pre-quantized or not, with another compute
// dtype than its config names, e.g. bfloat16 where a checkpoint was saved
// with transformers' default float32 (bitsandbytes' own CPU kernel computes
// in bfloat16 whatever the config says).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TOOLS_BNB_COMPILE_COMPUTEDTYPEOVERRIDE_H
#define BNB_TOOLS_BNB_COMPILE_COMPUTEDTYPEOVERRIDE_H

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace bnb::tools {

/// The compute dtype `name` names (a torch dtype name: float32, bfloat16,
/// float16 or an alias such as half), or an error naming the flag.
llvm::Expected<mlir::Type> parseComputeDtypeFlag(mlir::MLIRContext *ctx,
                                                 llvm::StringRef name);

/// `config` with its bnb_4bit_compute_dtype replaced by `dtype`, and every
/// bnb.linear_4bit of `module` (the layers of a pre-quantized graph) set to
/// compute in `dtype`. An error when `config` does not load in 4-bit.
llvm::Expected<mlir::bnb::ConfigAttr>
overrideComputeDtype(mlir::ModuleOp module, mlir::bnb::ConfigAttr config,
                     mlir::Type dtype);

} // namespace bnb::tools

#endif // BNB_TOOLS_BNB_COMPILE_COMPUTEDTYPEOVERRIDE_H
