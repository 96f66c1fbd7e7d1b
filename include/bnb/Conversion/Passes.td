//===- Passes.td - bnb conversion passes -------------------*- tablegen -*-===//

#ifndef BNB_CONVERSION_PASSES_TD
#define BNB_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertBnbToLinalg : Pass<"convert-bnb-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Lower the primitive bnb ops to linalg, arith, math and tensor";
  let description = [{
    The portable reference lowering: each primitive bnb op becomes
    `linalg.generic` ops (and tensor/arith/math/scf) that compute bitsandbytes'
    numerics exactly as the numerics library does. Run `bnb-expand` first.
    Since linalg and bufferization only handle signless integers, unsigned
    byte tensors (packed 4-bit codes, 8-bit codes) become `i8` tensors with
    the same bits everywhere, function signatures included.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ConvertBnbToGPU : Pass<"convert-bnb-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower bnb layers and primitives to fused GPU kernels";
  let description = [{
    Turns quantized `bnb.linear_4bit` / `bnb.linear_int8` layers and the
    primitive bnb ops into `gpu.func` kernels launched from the host:
    a fused 4-bit dequant + GEMV/GEMM for small batches, a row-quantize +
    outlier-detect kernel and an int8 tensor-core GEMM with the dequant in its
    epilogue for LLM.int8(), and dequantized tensor-core tiles for larger
    4-bit batches.
  }];
  let options = [
    Option<"chip", "chip", "std::string", "\"sm_90\"",
           "Target SM (sm_80 or sm_90)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // BNB_CONVERSION_PASSES_TD
