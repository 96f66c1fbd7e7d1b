//===- Passes.h - bnb conversion passes ---------------------------*- C++ -*-===//
//
// Declares the bnb conversion passes (generated from Passes.td) and their
// pattern populators.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_PASSES_H
#define BNB_CONVERSION_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
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

/// Adds the patterns that turn quantized linears, LLM.int8() products and
/// float matmuls into calls of libbnb_runtime's CPU microkernels.
void populateBnbToUkernelsPatterns(RewritePatternSet &patterns);

/// Adds the patterns that lower bnb layers and primitives to host code
/// launching GPU kernels generated for `chip` (e.g. "sm_90") into the
/// module's `bnb_kernels` gpu.module.
void populateBnbToGPUPatterns(RewritePatternSet &patterns, StringRef chip);

/// Adds the pattern that interchanges the loops of linalg.generic ops so
/// that their reduction dimensions are innermost.
void populateReductionsInnermostPatterns(RewritePatternSet &patterns);

/// Declares that gpu.launch_func reads and writes its memref operands (and
/// nothing else), which buffer deallocation needs to place frees around
/// kernel launches. bnb::registerAllDialects calls it.
void registerGPULaunchMemoryEffects(DialectRegistry &registry);

#define GEN_PASS_REGISTRATION
#include "bnb/Conversion/Passes.h.inc"

} // namespace bnb
} // namespace mlir

#endif // BNB_CONVERSION_PASSES_H
