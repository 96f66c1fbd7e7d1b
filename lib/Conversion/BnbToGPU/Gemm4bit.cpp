//===- Gemm4bit.cpp - 4-bit tensor-core GEMM for larger batches -----------===//

#include "Linear4bitKernels.h"

using namespace mlir;
using namespace mlir::bnb::gpu;

::mlir::gpu::GPUFuncOp
mlir::bnb::gpu::getGemm4bitMmaKernel(ModuleOp module,
                                     const Linear4bitConfig &config) {
  // Until the tiled kernel exists, larger batches use the generic kernel,
  // which shares the argument list.
  return getLinear4bitGenericKernel(module, config);
}
