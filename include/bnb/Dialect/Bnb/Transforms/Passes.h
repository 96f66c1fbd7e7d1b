//===- Passes.h - bnb transformation passes -----------------------*- C++ -*-===//
//
// Declares the bnb passes (generated from Passes.td) and the pattern
// populators they are built from.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_PASSES_H
#define BNB_DIALECT_BNB_TRANSFORMS_PASSES_H

#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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
