//===- Pipelines.h - bnb pass pipelines ---------------------------*- C++ -*-===//
//
// The named pipelines of bnb-opt (bnb-quantize, bnb-lower-to-cpu,
// bnb-gpu-prepare, bnb-lower-to-nvvm) and their C++ entry points.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_PIPELINES_PIPELINES_H
#define BNB_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

#include <memory>

namespace mlir {
class OpPassManager;
namespace bnb {
class PendingWeightsWrite;

/// Options of the `bnb-quantize` pipeline (bnb-replace-linear then
/// bnb-quantize-weights): the BitsAndBytesConfig fields and the sidecar paths.
struct QuantizePipelineOptions
    : public PassPipelineOptions<QuantizePipelineOptions> {
  Option<bool> loadIn8bit{*this, "load-in-8bit", llvm::cl::init(false)};
  Option<bool> loadIn4bit{*this, "load-in-4bit", llvm::cl::init(false)};
  Option<double> llmInt8Threshold{*this, "llm-int8-threshold",
                                  llvm::cl::init(6.0)};
  ListOption<std::string> llmInt8SkipModules{*this, "llm-int8-skip-modules"};
  Option<bool> llmInt8EnableFp32CpuOffload{
      *this, "llm-int8-enable-fp32-cpu-offload", llvm::cl::init(false)};
  Option<bool> llmInt8HasFp16Weight{*this, "llm-int8-has-fp16-weight",
                                    llvm::cl::init(false)};
  Option<std::string> bnb4bitComputeDtype{*this, "bnb-4bit-compute-dtype",
                                          llvm::cl::init("float32")};
  Option<std::string> bnb4bitQuantType{*this, "bnb-4bit-quant-type",
                                       llvm::cl::init("fp4")};
  Option<bool> bnb4bitUseDoubleQuant{*this, "bnb-4bit-use-double-quant",
                                     llvm::cl::init(false)};
  Option<std::string> bnb4bitQuantStorage{*this, "bnb-4bit-quant-storage",
                                          llvm::cl::init("uint8")};
  Option<int64_t> blocksize{*this, "blocksize", llvm::cl::init(64)};
  Option<std::string> weightsPath{*this, "weights", llvm::cl::init("")};
  Option<std::string> outputPath{*this, "output", llvm::cl::init("")};
};

/// bnb-replace-linear followed by bnb-quantize-weights.
void buildBnbQuantizePipeline(OpPassManager &pm,
                              const QuantizePipelineOptions &options);

/// The same, with bnb-quantize-weights leaving the writing of the weights
/// file in `*pending` (see PendingWeightsWrite.h).
void buildBnbQuantizePipeline(OpPassManager &pm,
                              const QuantizePipelineOptions &options,
                              std::unique_ptr<PendingWeightsWrite> *pending);

/// Options of `bnb-lower-to-cpu`.
struct LowerToCPUPipelineOptions
    : public PassPipelineOptions<LowerToCPUPipelineOptions> {
  Option<bool> externalizeWeights{
      *this, "externalize-weights",
      llvm::cl::desc("Turn weight globals into entry-point arguments"),
      llvm::cl::init(true)};
  Option<bool> runtimeAlloc{
      *this, "runtime-alloc",
      llvm::cl::desc("Allocate through _mlir_memref_to_llvm_alloc/free, "
                     "which libbnb_runtime accounts (off: malloc/free)"),
      llvm::cl::init(true)};
  Option<bool> ukernels{
      *this, "ukernels",
      llvm::cl::desc("Call libbnb_runtime's CPU microkernels for the 4-bit, "
                     "int8 and float linears (off: the portable linalg "
                     "lowering, which needs no runtime library)"),
      llvm::cl::init(true)};
};

/// bnb-expand, convert-bnb-to-linalg, bufferization and lowering to the LLVM
/// dialect for the host CPU.
void buildBnbLowerToCPUPipeline(OpPassManager &pm,
                                const LowerToCPUPipelineOptions &options);

/// Options of `bnb-gpu-prepare`.
struct GPUPreparePipelineOptions
    : public PassPipelineOptions<GPUPreparePipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("Target SM: sm_80 or sm_90"),
                           llvm::cl::init("sm_90")};
  Option<bool> externalizeWeights{
      *this, "externalize-weights",
      llvm::cl::desc("Turn weight globals into entry-point arguments"),
      llvm::cl::init(true)};
};

/// The device half of the GPU pipeline: fused bnb kernels, the rest of the
/// graph mapped to the GPU, bufferized to caller-provided results, kernels
/// outlined and host allocations made device allocations; nothing is
/// lowered to the LLVM or NVVM dialects yet.
void buildBnbGPUPreparePipeline(OpPassManager &pm,
                                const GPUPreparePipelineOptions &options);

/// Options of `bnb-lower-to-nvvm`.
struct LowerToNVVMPipelineOptions
    : public PassPipelineOptions<LowerToNVVMPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("Target SM: sm_80 or sm_90"),
                           llvm::cl::init("sm_90")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("GPU binary format: isa (PTX), bin (cubin) or fatbin"),
      llvm::cl::init("fatbin")};
  Option<std::string> toolkit{*this, "toolkit",
                              llvm::cl::desc("CUDA toolkit path for ptxas"),
                              llvm::cl::init("/usr/local/cuda")};
  Option<bool> externalizeWeights{
      *this, "externalize-weights",
      llvm::cl::desc("Turn weight globals into entry-point arguments"),
      llvm::cl::init(true)};
};

/// The whole GPU pipeline: bnb-gpu-prepare, then NVVM, a gpu.binary with PTX
/// (and a cubin when ptxas is there) and the host side through gpu-to-llvm.
void buildBnbLowerToNVVMPipeline(OpPassManager &pm,
                                 const LowerToNVVMPipelineOptions &options);

/// Registers bnb-quantize and bnb-lower-to-cpu.
void registerBnbPipelines();

/// Registers bnb-gpu-prepare.
void registerBnbGPUPreparePipeline();

/// Registers bnb-gpu-prepare and bnb-lower-to-nvvm.
void registerBnbNVVMPipeline();

} // namespace bnb
} // namespace mlir

#endif // BNB_PIPELINES_PIPELINES_H
