//===- BnbToLinalgPatterns.h - pattern groups of convert-bnb-to-linalg -*- C++ -*-===//

#ifndef BNB_LIB_CONVERSION_BNBTOLINALG_BNBTOLINALGPATTERNS_H
#define BNB_LIB_CONVERSION_BNBTOLINALG_BNBTOLINALGPATTERNS_H

namespace mlir {
class RewritePatternSet;
namespace bnb::lowering {

/// quantize_rowwise, outlier_split, int8_matmul, dequantize_int8.
void populateInt8ToLinalgPatterns(RewritePatternSet &patterns);

/// quantize_4bit, dequantize_4bit, quantize_blockwise, dequantize_blockwise.
void populateBlockwiseToLinalgPatterns(RewritePatternSet &patterns);

} // namespace bnb::lowering
} // namespace mlir

#endif // BNB_LIB_CONVERSION_BNBTOLINALG_BNBTOLINALGPATTERNS_H
