#include "Kernels.h"
#include "mlir/IR/PatternMatch.h"
void mlir::bnb::gpu::populateLinearInt8Patterns(RewritePatternSet &, const GPUTarget &) {}
