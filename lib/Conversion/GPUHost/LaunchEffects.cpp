//===- LaunchEffects.cpp - memory effects of gpu.launch_func --------------===//
//
// gpu.launch_func declares no memory effects, which ownership-based buffer
// deallocation rejects. A kernel can only touch the buffers it is given, so
// the launch reads and writes each of its memref operands.
//
//===----------------------------------------------------------------------===//

#include "bnb/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace {
struct LaunchFuncMemoryEffects
    : public MemoryEffectOpInterface::ExternalModel<LaunchFuncMemoryEffects,
                                                    gpu::LaunchFuncOp> {
  void getEffects(Operation *op,
                  SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
                      &effects) const {
    bool lowered = false, anyBuffer = false;
    for (OpOperand &operand : op->getOpOperands()) {
      Type type = operand.get().getType();
      if (!isa<BaseMemRefType>(type)) {
        // After gpu-to-llvm the buffers are plain pointers: the kernel may
        // then touch any memory.
        lowered |= !type.isIntOrIndexOrFloat() && !isa<gpu::AsyncTokenType>(type);
        continue;
      }
      anyBuffer = true;
      effects.emplace_back(MemoryEffects::Read::get(), &operand);
      effects.emplace_back(MemoryEffects::Write::get(), &operand);
    }
    if (lowered || !anyBuffer) {
      effects.emplace_back(MemoryEffects::Read::get());
      effects.emplace_back(MemoryEffects::Write::get());
    }
  }
};
} // namespace

void mlir::bnb::registerGPULaunchMemoryEffects(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, gpu::GPUDialect *) {
    gpu::LaunchFuncOp::attachInterface<LaunchFuncMemoryEffects>(*ctx);
  });
}
