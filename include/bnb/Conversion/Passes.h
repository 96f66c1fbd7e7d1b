//===- Passes.h - bnb conversion passes ---------------------------*- C++ -*-===//
//
// Declares the bnb conversion passes (generated from Passes.td) and their
// pattern populators.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_PASSES_H
#define BNB_CONVERSION_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
class TypeConverter;
namespace bnb {

#define GEN_PASS_DECL
#include "bnb/Conversion/Passes.h.inc"

/// Adds the patterns that lower the primitive bnb ops to linalg, arith, math
/// and tensor.
void populateBnbToLinalgPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "bnb/Conversion/Passes.h.inc"

} // namespace bnb
} // namespace mlir

#endif // BNB_CONVERSION_PASSES_H
