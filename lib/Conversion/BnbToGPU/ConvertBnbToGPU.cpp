//===- ConvertBnbToGPU.cpp - bnb ops to GPU kernel launches ---------------===//
//
// The convert-bnb-to-gpu pass: every bnb op becomes host code at the tensor
// level (operands through bufferization.to_buffer, results in fresh buffers
// through bufferization.to_tensor) around gpu.launch_func of kernels that
// the patterns generate into the `bnb_kernels` gpu.module.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/IR/BnbDialect.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_CONVERTBNBTOGPU
#include "bnb/Conversion/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

void mlir::bnb::populateBnbToGPUPatterns(RewritePatternSet &patterns,
                                         StringRef chip) {
  gpu::GPUTarget target = gpu::GPUTarget::get(chip);
  gpu::populateBlockwisePatterns(patterns, target);
  gpu::populateInt8PrimitivePatterns(patterns, target);
  gpu::populateLinear4bitPatterns(patterns, target);
  gpu::populateLinearInt8Patterns(patterns, target);
}

namespace {

/// The reason the GPU path cannot lower `op`, or an empty string.
std::string unsupportedReason(Operation *op) {
  if (auto linear = dyn_cast<Linear4bitOp>(op); linear && !linear.isQuantized())
    return "has a float weight; run bnb-quantize-weights before lowering to "
           "the GPU";
  if (auto linear = dyn_cast<LinearInt8Op>(op);
      linear && !linear.isQuantized() && linear.getConv1d())
    return "has a Conv1D float weight; quantize it (bnb-quantize-weights) "
           "before lowering to the GPU";
  // The kernels are specialized on the weight's sizes; a dynamic one would
  // be read as ShapedType::kDynamic (INT64_MIN).
  if (isa<LinearInt8Op, Linear4bitOp>(op))
    for (Value operand : op->getOperands().drop_front())
      if (auto type = dyn_cast<RankedTensorType>(operand.getType());
          type && !type.hasStaticShape())
        return "needs a statically shaped weight (and state) on the GPU, got "
               "an operand of type " +
               llvm::formatv("{0}", type).str();
  if (auto dq = dyn_cast<Dequantize4bitOp>(op);
      dq && !dq.getResult().getType().hasStaticShape())
    return "needs a static result shape on the GPU";
  return "";
}

/// Orders the kernel module by name, constant tables first, so that the
/// output does not depend on the order in which patterns ran.
void sortKernelModule(ModuleOp module) {
  auto kernels =
      module.lookupSymbol<::mlir::gpu::GPUModuleOp>(bnb::gpu::kKernelModuleName);
  if (!kernels)
    return;
  SmallVector<Operation *> ops;
  for (Operation &op : kernels.getBody()->getOperations())
    ops.push_back(&op);
  llvm::stable_sort(ops, [](Operation *a, Operation *b) {
    bool ag = isa<memref::GlobalOp>(a), bg = isa<memref::GlobalOp>(b);
    if (ag != bg)
      return ag;
    return SymbolTable::getSymbolName(a).getValue() <
           SymbolTable::getSymbolName(b).getValue();
  });
  for (Operation *op : ops)
    op->moveBefore(kernels.getBody(), kernels.getBody()->end());
}

struct ConvertBnbToGPUPass
    : public bnb::impl::ConvertBnbToGPUBase<ConvertBnbToGPUPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registry.insert<math::MathDialect, tensor::TensorDialect>();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> bnbOps;
    bool failedCheck = false;
    module.walk([&](Operation *op) {
      if (!isa<BnbDialect>(op->getDialect()))
        return;
      std::string reason = unsupportedReason(op);
      if (!reason.empty()) {
        op->emitOpError() << reason;
        failedCheck = true;
      }
      bnbOps.push_back(op);
    });
    if (failedCheck)
      return signalPassFailure();
    if (bnbOps.empty())
      return;

    RewritePatternSet patterns(&getContext());
    populateBnbToGPUPatterns(patterns, chip);
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    config.enableFolding(false);
    (void)applyOpPatternsGreedily(bnbOps, std::move(patterns), config);

    sortKernelModule(module);

    WalkResult leftover = module.walk([&](Operation *op) {
      if (!isa<BnbDialect>(op->getDialect()))
        return WalkResult::advance();
      op->emitOpError() << "could not be lowered to GPU kernels";
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
