//===- Int8Kernels.h - LLM.int8() kernels -------------------------*- C++ -*-===//
//
// The kernels behind bnb.linear_int8 and the LLM.int8() primitives:
// row-wise quantization with outlier detection, outlier column compaction,
// the int8 tensor-core GEMM with its dequantization epilogue, and the small
// elementwise kernels of the primitive ops. Every buffer argument is 1-D.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_BNBTOGPU_INT8KERNELS_H
#define BNB_CONVERSION_BNBTOGPU_INT8KERNELS_H

#include "Kernels.h"

namespace mlir::bnb::gpu {

/// Threads per block of the row-quantization kernel (one block per row).
inline constexpr int64_t kRowQuantThreads = 256;

/// Row-wise int8 quantization of x [M, K] (any float type, rounded to f16
/// first): stats[m] = max |x| over the row's non-outlier elements,
/// q = round_half_even(x * (127 * (1 / stats[m]))), outlier elements written
/// as 0.
/// With `outliers`, also ORs every column holding an element with
/// |f16(x)| >= threshold into the bit mask `flags`.
/// Args: x, q (i8), stats (f32), [flags (i32), threshold (f32)], M, K.
/// Grid: M.
::mlir::gpu::GPUFuncOp getRowQuantKernel(ModuleOp module, Type inputType,
                                         bool outliers);

/// Threads per block of the compaction kernel (a single block).
inline constexpr int64_t kCompactThreads = 1024;

/// The ascending list of the columns set in the bit mask `flags` (K bits)
/// and its length. Args: flags (i32), list (`listType`), count (i32), K.
/// Grid: 1.
::mlir::gpu::GPUFuncOp getCompactKernel(ModuleOp module, Type listType);

/// Threads per block of the elementwise kernels.
inline constexpr int64_t kElementwiseThreads = 256;

/// Zero-fills an i32 buffer. Args: buffer, n. Grid: ceil(n / 256).
::mlir::gpu::GPUFuncOp getZeroFillKernel(ModuleOp module);

/// What the int8 GEMM writes.
enum class Int8Epilogue {
  /// The int32 product (bnb.int8_matmul).
  Int32,
  /// LLM.int8(): dequantized, bias, outlier columns (bnb.linear_int8).
  Dequantize,
};

/// The static parameters of an int8 GEMM.
struct Int8GemmConfig {
  /// Block tile and warp grid.
  int64_t tileM = 128, tileN = 128, warpsM = 2, warpsN = 4;
  Int8Epilogue epilogue = Int8Epilogue::Int32;
  /// Dequantize: the output (= activation) element type.
  Type outputType;
  /// Dequantize: the bias element type, or null.
  Type biasType;
  /// Dequantize: whether outlier columns are handled.
  bool outliers = false;

  int64_t threads() const { return warpsM * warpsN * 32; }
  std::string kernelName() const;
};

/// K bytes per pipeline stage of the int8 GEMM.
inline constexpr int64_t kInt8TileK = 64;

/// The int8 tensor-core GEMM C = A * B^T, A [M, K] and B [N, K] int8
/// (K % 64 == 0): cp.async into swizzled shared memory (3 stages), ldmatrix,
/// mma.sync m16n8k32 s8 with int32 accumulators, and the epilogue.
/// Args: A, B, out, M, N, K, then for Dequantize: row stats (f32 [M]),
/// column stats (f32 [N]), [bias], [x (outputType), outlier list (i32),
/// outlier count (i32 [1])]. Grid: ceil(N / tileN) x ceil(M / tileM).
::mlir::gpu::GPUFuncOp getInt8GemmKernel(ModuleOp module,
                                         const Int8GemmConfig &config);

/// The same product and epilogue for any K, one thread per output.
/// Grid: ceil(M * N / 256).
::mlir::gpu::GPUFuncOp getInt8GenericKernel(ModuleOp module,
                                            const Int8GemmConfig &config);

/// Writes output element (row, col) of an int8 GEMM from its int32 dot
/// product `acc`, applying the configured epilogue. `args` are the GEMM's
/// kernel arguments.
void storeInt8Output(KernelBuilder &b, const Int8GemmConfig &config,
                     ValueRange args, Value acc, Value row, Value col);

} // namespace mlir::bnb::gpu

#endif // BNB_CONVERSION_BNBTOGPU_INT8KERNELS_H
