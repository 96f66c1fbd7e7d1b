#include "Kernels.h"
#include "mlir/IR/PatternMatch.h"
void mlir::bnb::gpu::populateInt8PrimitivePatterns(RewritePatternSet &, const GPUTarget &) {}
