//===- GPUPrepare.cpp - the bnb-gpu-prepare pipeline ----------------------===//
//
// The device half of bnb-lower-to-nvvm: from a quantized model graph to host
// functions on memrefs that launch gpu.func kernels of the gpu, nvgpu,
// vector, scf, arith and math dialects, before anything is lowered to the
// LLVM or NVVM dialects. bnb-gpu-sim runs its output, so the simulated
// kernels are the shipped ones.
//
//===----------------------------------------------------------------------===//

#include "bnb/Pipelines/Pipelines.h"
#include "BufferizeToOutParams.h"

#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {

/// Tensor level to memrefs, all compute mapped into kernels.
void buildBufferizeAndMap(OpPassManager &pm) {
  // The artifact calling convention: results are caller-provided device
  // buffers (out-parameters after the inputs and weights).
  bnb::addBufferizeToOutParams(pm);
  // One parallel loop nest per op for the mapping: reductions innermost.
  pm.addNestedPass<func::FuncOp>(bnb::createBnbGPUReductionsInnermost());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(bnb::createBnbGPUMapHostCompute());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(bnb::createBnbGPUDeviceMemory());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

} // namespace

void mlir::bnb::buildBnbGPUPreparePipeline(
    OpPassManager &pm, const GPUPreparePipelineOptions &options) {
  // Weights become trailing entry-point arguments, and arguments read-only:
  // the caller owns inputs and weights (device buffers).
  if (options.externalizeWeights)
    pm.addPass(createBnbExternalizeWeights());
  pm.addPass(createBnbPrepareEntryPoints());
  // Host compute is mapped onto kernels function by function: one flat
  // function per entry point.
  BnbOutlineLayersOptions flat;
  flat.inlineOnly = true;
  pm.addPass(createBnbOutlineLayers(flat));
  ConvertBnbToGPUOptions toGPU;
  toGPU.chip = options.chip;
  pm.addPass(createConvertBnbToGPU(toGPU));
  // Elementwise arith/math on whole tensors becomes linalg so that it
  // bufferizes; fusing it leaves fewer kernels.
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createLinalgElementwiseOpFusionPass());
  buildBufferizeAndMap(pm);
}

void mlir::bnb::registerBnbGPUPreparePipeline() {
  PassPipelineRegistration<GPUPreparePipelineOptions>(
      "bnb-gpu-prepare",
      "The device half of bnb-lower-to-nvvm: a quantized model graph to "
      "host functions on memrefs launching gpu.func kernels, before the "
      "lowering to LLVM and NVVM (what bnb-gpu-sim runs)",
      buildBnbGPUPreparePipeline);
}
