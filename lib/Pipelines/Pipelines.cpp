//===- Pipelines.cpp - bnb-quantize and bnb-lower-to-cpu -------------------===//

#include "bnb/Pipelines/Pipelines.h"
#include "BufferizeToOutParams.h"

#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/Transforms/ConfigResolution.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/Transforms/PendingWeightsWrite.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::bnb;

void mlir::bnb::addBufferizeToOutParams(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // KV caches stay in the caller's buffers, updated in place: results of
  // (layer) functions that are their own arguments are dropped.
  pm.addPass(bufferization::createDropEquivalentBufferResultsPass());
  pm.addPass(createBnbDropInOutResults());
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
}

void mlir::bnb::buildBnbQuantizePipeline(OpPassManager &pm,
                                         const QuantizePipelineOptions &o) {
  buildBnbQuantizePipeline(pm, o, /*pending=*/nullptr);
}

void mlir::bnb::buildBnbQuantizePipeline(
    OpPassManager &pm, const QuantizePipelineOptions &o,
    std::unique_ptr<PendingWeightsWrite> *pending) {
  pm.addPass(createBnbReplaceLinear(overridesFromOptions(o), o.blocksize));
  BnbQuantizeWeightsOptions quantize;
  quantize.weightsPath = o.weightsPath;
  quantize.outputPath = o.outputPath;
  pm.addPass(createBnbQuantizeWeights(quantize, pending));
}

void mlir::bnb::buildBnbLowerToCPUPipeline(
    OpPassManager &pm, const LowerToCPUPipelineOptions &options) {
  if (options.externalizeWeights)
    pm.addPass(createBnbExternalizeWeights());
  pm.addPass(createBnbPrepareEntryPoints());
  if (options.ukernels)
    pm.addPass(createConvertBnbToUkernels());
  pm.addPass(createBnbExpand());
  // Layer names are gone: identical layers share one function from here on.
  pm.addPass(createBnbOutlineLayers());
  pm.addPass(createConvertBnbToLinalg());
  // Elementwise arith/math on whole tensors becomes linalg so that it
  // bufferizes.
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createLinalgElementwiseOpFusionPass());

  // Tensors to buffers; results become caller-provided out-parameters and
  // every intermediate buffer is freed.
  addBufferizeToOutParams(pm);
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);

  // Loops, then the LLVM dialect. Allocation goes through the generic
  // _mlir_memref_to_llvm_alloc/free functions, which the runtime accounts.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  // bf16 conversions become integer arithmetic: LLVM would otherwise call
  // __truncsfbf2, which libgcc 12 does not have.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addNestedPass<func::FuncOp>(arith::createArithExpandOpsPass(expand));
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
  memrefOptions.useGenericFunctions = options.runtimeAlloc;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createBnbStripMetadata());
}

void mlir::bnb::registerBnbPipelines() {
  PassPipelineRegistration<QuantizePipelineOptions>(
      "bnb-quantize",
      "Replace linear layers and quantize their weights (bnb-replace-linear, "
      "bnb-quantize-weights)",
      [](OpPassManager &pm, const QuantizePipelineOptions &options) {
        buildBnbQuantizePipeline(pm, options);
      });
  PassPipelineRegistration<LowerToCPUPipelineOptions>(
      "bnb-lower-to-cpu",
      "Lower a quantized model graph to the LLVM dialect for the host CPU",
      buildBnbLowerToCPUPipeline);
}
