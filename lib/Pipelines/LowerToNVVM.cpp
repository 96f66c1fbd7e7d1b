//===- LowerToNVVM.cpp - the bnb-lower-to-nvvm pipeline -------------------===//
//
// From a quantized model graph (func.func on tensors with linalg, tensor,
// arith, math and bnb ops) to a module of upstream dialects only: host code
// in the LLVM dialect calling the mgpu* runtime ABI, kernels in a gpu.binary.
//
//===----------------------------------------------------------------------===//

#include "bnb/Pipelines/Pipelines.h"
#include "BufferizeToOutParams.h"

#include "bnb/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {

/// The PTX ISA features for `chip`: PTX 8.0 covers sm_80 through sm_90a and
/// is what ptxas of CUDA 12.0 and later accepts; newer chips let LLVM pick
/// the minimum version they need.
std::string ptxFeatures(StringRef chip) {
  int64_t sm = 0;
  StringRef digits = chip.drop_front(3).take_while(llvm::isDigit);
  if (!chip.starts_with("sm_") || digits.getAsInteger(10, sm))
    return "";
  return sm >= 80 && sm <= 90 ? "+ptx80" : "";
}

/// Device code to NVVM, host code to the LLVM dialect, kernels to a binary.
void buildLowerToLLVM(OpPassManager &pm,
                      const bnb::LowerToNVVMPipelineOptions &options) {
  // Constants read by host code become device copies made once per loaded
  // module (the device half keeps memref.get_global for the simulator).
  pm.addPass(bnb::createBnbGPUResidentConstants());
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  pm.addPass(createConvertNVGPUToNVVMPass());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertNVVMToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());

  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = ptxFeatures(options.chip);
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  pm.addNestedPass<gpu::GPUModuleOp>(createStripDebugInfoPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  pm.addNestedPass<gpu::GPUModuleOp>(LLVM::createNVVMOptimizeForTargetPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());

  pm.addPass(createGpuToLLVMConversionPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  binary.toolkitPath = options.toolkit;
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

} // namespace

void mlir::bnb::buildBnbLowerToNVVMPipeline(
    OpPassManager &pm, const LowerToNVVMPipelineOptions &options) {
  GPUPreparePipelineOptions prepare;
  prepare.chip = options.chip.getValue();
  prepare.externalizeWeights = options.externalizeWeights.getValue();
  buildBnbGPUPreparePipeline(pm, prepare);
  buildLowerToLLVM(pm, options);
  pm.addPass(createBnbStripMetadata());
}

void mlir::bnb::registerBnbNVVMPipeline() {
  registerBnbGPUPreparePipeline();
  PassPipelineRegistration<LowerToNVVMPipelineOptions>(
      "bnb-lower-to-nvvm",
      "Lower a quantized model graph to host LLVM IR that launches bnb's "
      "fused kernels and the rest of the graph as GPU kernels (PTX, cubin "
      "or fatbin in a gpu.binary)",
      buildBnbLowerToNVVMPipeline);
}
