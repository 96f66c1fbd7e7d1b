#include "Kernels.h"
#include "mlir/IR/PatternMatch.h"
void mlir::bnb::gpu::populateLinear4bitPatterns(RewritePatternSet &, const GPUTarget &) {}
