//===- Passes.h - bnb transformation passes -----------------------*- C++ -*-===//
//
// Declares the bnb passes (generated from Passes.td) and the pattern
// populators they are built from. Dialect headers a pass depends on are
// included by the file that defines the pass, which keeps this header cheap.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_PASSES_H
#define BNB_DIALECT_BNB_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace bnb {

#define GEN_PASS_DECL
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"

struct ConfigOverrides;

/// bnb-replace-linear with the config fields of `overrides` (the others keep
/// the module's values) and the 4-bit `blocksize`: what pipelines build it
/// with, sharing their parsed options instead of printing them back.
std::unique_ptr<Pass> createBnbReplaceLinear(const ConfigOverrides &overrides,
                                             int64_t blocksize);

/// Adds the patterns that expand bnb.linear_int8 / bnb.linear_4bit into the
/// primitive bnb ops and linalg.
void populateBnbExpandPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"

} // namespace bnb
} // namespace mlir

#endif // BNB_DIALECT_BNB_TRANSFORMS_PASSES_H
