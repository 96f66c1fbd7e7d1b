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

/// Adds the patterns that expand bnb.linear_int8 / bnb.linear_4bit into the
/// primitive bnb ops and linalg.
void populateBnbExpandPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"

} // namespace bnb
} // namespace mlir

#endif // BNB_DIALECT_BNB_TRANSFORMS_PASSES_H
