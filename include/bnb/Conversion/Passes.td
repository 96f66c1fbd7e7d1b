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

def ConvertBnbToUkernels : Pass<"convert-bnb-to-ukernels", "::mlir::ModuleOp"> {
  let summary = "Lower the expensive CPU ops to calls of the runtime's "
                "microkernels";
  let description = [{
    The fast CPU lowering, run before `bnb-expand` in `bnb-lower-to-cpu`:
    each quantized `bnb.linear_4bit` becomes one call of a fused
    dequantize-and-multiply microkernel of libbnb_runtime (GEMV for small
    batches, a GEMM over weight tiles dequantized once for larger ones), each
    `bnb.linear_int8` is expanded and its `bnb.int8_matmul` becomes an exact
    int32 microkernel call, and each float `linalg.matmul` (x·W or x·Wᵀ, the
    skipped linears such as lm_head) becomes a microkernel call that
    accumulates in f32 and rounds once, as PyTorch's CPU and cuBLAS linears
    do. The kernels (`runtime/include/bnb_ukernels.h`) pick AVX-512, AVX2 or
    portable code at run time and use the runtime's thread pool.

    Calls are emitted at the tensor level: operands go through
    `bufferization.to_buffer`, the result is a fresh `memref.alloc` returned
    with `bufferization.to_tensor restrict`, and each microkernel is a
    private `func.func` with `llvm.emit_c_interface`. Ops with dynamic
    shapes are left for the portable lowering.

    Example: `bnb.int8_matmul %a, %b : tensor<1x64xi8>, tensor<32x64xi8> ->
    tensor<1x32xi32>` becomes a call of `@bnbrt_uk_int8_matmul(%out, %a, %b)`
    on `memref<1x32xi32>, memref<1x64xi8>, memref<32x64xi8>`.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect",
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

//===----------------------------------------------------------------------===//
// GPU pipeline helpers
//===----------------------------------------------------------------------===//

def BnbGPUMapHostCompute
    : Pass<"bnb-gpu-map-host-compute", "::mlir::func::FuncOp"> {
  let summary = "Map the compute left on the host after bufferization onto "
                "GPU blocks and threads";
  let description = [{
    Prepares the host side of a bufferized function for
    `convert-parallel-loops-to-gpu`, so that all compute runs on the device:
    `memref.copy` between non-identity layouts (slices, concatenation,
    padding) becomes a parallel copy loop; stores left on the host (the
    loops of 0-d reductions and fills) are wrapped in single-iteration
    parallel loops; every outermost `scf.parallel` is tiled into blocks of
    256 threads and mapped with its innermost dimension on thread x (and
    block x), so that consecutive threads touch consecutive elements.
    Dimensions beyond the third run sequentially in each thread.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def BnbGPUReductionsInnermost
    : Pass<"bnb-gpu-reductions-innermost", "::mlir::func::FuncOp"> {
  let summary = "Move the reduction loops of linalg.generic innermost";
  let description = [{
    Interchanges the loops of every `linalg.generic` whose reduction
    dimensions are not the innermost ones, keeping the relative order of the
    parallel dimensions and of the reduction dimensions. After
    `convert-linalg-to-parallel-loops`, all parallel dimensions are then one
    outermost `scf.parallel` that `bnb-gpu-map-host-compute` maps onto
    blocks and threads, and each thread sums its output element in a
    sequential loop. Without it, a reduction between parallel dimensions
    (the cached attention's context sum, ordered `(b, i, kv, g, j, d)` for
    the CPU) leaves a second `scf.parallel` inside the sequential reduction
    loop: the outer nest has little parallelism (4 iterations for the tiny
    LLaMA's decode), and the pipeline left part of the nest as host code,
    which `bnb-gpu-device-memory` rejects. Each output element is summed in
    the same order as before, so results do not change.

    ```mlir
    // iterator_types = [parallel, reduction, parallel]
    // becomes          [parallel, parallel, reduction]
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def BnbGPUDeviceMemory : Pass<"bnb-gpu-device-memory", "::mlir::ModuleOp"> {
  let summary = "Place host buffers in device memory";
  let description = [{
    Runs after kernel outlining and buffer deallocation. In host functions,
    `memref.alloc`/`memref.dealloc` become `gpu.alloc`/`gpu.dealloc`, and
    `memref.copy` between identity layouts becomes `gpu.memcpy`. A
    `memref.get_global` of a constant stays as it is and stands for the
    constant's device copy, which `bnb-gpu-resident-constants` provides in
    the host lowering (the GPU simulator executes it as it is). Every memref
    a kernel receives is then device memory: function arguments (the caller
    passes device buffers), device allocations or resident constants. A
    small integer argument (at most 4 elements) that only host code reads,
    such as a generation step's position, is copied once at entry into a
    stack buffer that those loads then read: one device-to-host copy per
    call, from which the host computes offsets, sizes and grids. In a
    generation step (a function with `bnb.kv_cache` arguments) the frees of
    intermediates move to the return: `cuMemFree` waits for the device, so
    freeing after each last use would stop the host many times per layer.
    Host code that would still read or write device memory directly is an
    error. Public functions get `llvm.emit_c_interface` so that callers use
    `_mlir_ciface_<name>`.
  }];
  let options = [
    Option<"emitCInterface", "emit-c-interface", "bool", "true",
           "Tag public functions with llvm.emit_c_interface">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect"];
}

def BnbGPUResidentConstants
    : Pass<"bnb-gpu-resident-constants", "::mlir::ModuleOp"> {
  let summary = "Keep the constants host code reads resident on the device";
  let description = [{
    Runs on the output of `bnb-gpu-device-memory`, where host code reads a
    constant `memref.global` (a code book, a rotary table) with
    `memref.get_global` and hands it to kernels. Each host function instead
    asks libbnb_runtime once, at entry, for the constant's device copy:

    ```mlir
    %h = memref.get_global @table : memref<4xf32>
    %d = builtin.unrealized_conversion_cast %h : memref<4xf32> to !llvm.struct<...>
    %p = llvm.extractvalue %d[1]
    %dev = llvm.call @bnbrtResidentConstant(%p, %c16) : (!llvm.ptr, i64) -> !llvm.ptr
    // %d with both pointers replaced by %dev, cast back to memref<4xf32>
    ```

    The runtime uploads the bytes at their first use and returns the same
    copy afterwards, so a call makes no allocation or copy for constants. A
    destructor of the module (`llvm.mlir.global_dtors`) calls
    `bnbrtReleaseResidentConstant` for each of them, so unloading the model
    frees them. The casts fold away in `reconcile-unrealized-casts` once
    the memrefs are lowered to the LLVM dialect. Reading a global that is
    not a constant with an initial value, or one with a non-identity layout,
    is an error.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // BNB_CONVERSION_PASSES_TD
