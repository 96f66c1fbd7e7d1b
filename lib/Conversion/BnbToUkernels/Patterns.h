//===- Patterns.h - convert-bnb-to-ukernels patterns ------------*- C++ -*-===//

#ifndef BNB_CONVERSION_BNBTOUKERNELS_PATTERNS_H
#define BNB_CONVERSION_BNBTOUKERNELS_PATTERNS_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::bnb::ukernels {

/// Quantized bnb.linear_4bit -> bnbrt_uk_linear_4bit[_dq].
void populateLinear4bitPatterns(RewritePatternSet &patterns);

/// bnb.int8_matmul -> bnbrt_uk_int8_matmul.
void populateInt8Patterns(RewritePatternSet &patterns);

/// Float linalg.matmul (x·W, x·Wᵀ) -> bnbrt_uk_matmul_{f32,f16,bf16}.
void populateMatmulPatterns(RewritePatternSet &patterns);

} // namespace mlir::bnb::ukernels

#endif // BNB_CONVERSION_BNBTOUKERNELS_PATTERNS_H
