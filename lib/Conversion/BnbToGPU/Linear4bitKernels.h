//===- Linear4bitKernels.h - kernels of 4-bit linear layers -------*- C++ -*-===//
//
// The kernels behind bnb.linear_4bit and what they are specialized for. All
// share one argument list:
//   x (Tin), packed weight (ui8), absmax (f32, or ui8 codes),
//   [nested absmax (f32), nested offset (f32)], [bias (Tb)], out (Tin), M
// where M is the number of rows of x and every buffer is 1-D.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_BNBTOGPU_LINEAR4BITKERNELS_H
#define BNB_CONVERSION_BNBTOGPU_LINEAR4BITKERNELS_H

#include "Kernels.h"

namespace mlir::bnb::gpu {

/// The static parameters of a 4-bit linear kernel.
struct Linear4bitConfig {
  QuantType quantType = QuantType::nf4;
  int64_t n = 0, k = 0, blocksize = 64;
  Type computeType, inputType;
  /// The bias element type, or null without a bias.
  Type biasType;
  bool nested = false;

  /// The kernel argument types in order.
  SmallVector<Type> argTypes(MLIRContext *ctx) const;
  /// A kernel name unique for this configuration and `kind`.
  std::string kernelName(StringRef kind) const;
};

/// The kernel arguments unpacked by role.
struct Linear4bitArgs {
  Value x, weight, absmax, nested, offset, bias, out, m;
  Linear4bitArgs(const Linear4bitConfig &config, ValueRange args);
};

/// Threads per block and output rows per block of the tensor-core GEMV.
inline constexpr int64_t kGemvMmaThreads = 256;
inline constexpr int64_t kGemvMmaRows = 16;

/// The tensor-core GEMV for up to 8 * `tiles` rows of x (f16/bf16 compute;
/// K % 32 == 0): weights decoded in registers into m16n8k16 A fragments, x
/// as the B operand. Grid: ceil(N / 16) blocks.
::mlir::gpu::GPUFuncOp getGemv4bitMmaKernel(ModuleOp module,
                                            const Linear4bitConfig &config,
                                            int64_t tiles);

/// Threads per block and outputs per block of the SIMT GEMV.
inline constexpr int64_t kGemvSimtThreads = 128;
inline constexpr int64_t kGemvSimtOutputs = 4;

/// The SIMT GEMV of bitsandbytes' fp32 path (f32 compute; K % 32 == 0): one
/// warp per output, `rowsPerBlock` rows of x per block.
/// Grid: ceil(N / 4) x ceil(M / rowsPerBlock).
::mlir::gpu::GPUFuncOp getGemv4bitSimtKernel(ModuleOp module,
                                             const Linear4bitConfig &config,
                                             int64_t rowsPerBlock);

/// Threads per block of the generic kernel.
inline constexpr int64_t kGenericThreads = 256;

/// The generic kernel for any shape: one thread per output, the weight
/// dequantized on the fly to the compute dtype. Grid: ceil(M * N / 256).
::mlir::gpu::GPUFuncOp getLinear4bitGenericKernel(ModuleOp module,
                                                  const Linear4bitConfig &config);

/// Tile of the tensor-core GEMM for larger batches.
inline constexpr int64_t kGemmTileM = 64;
inline constexpr int64_t kGemmTileN = 64;
inline constexpr int64_t kGemmTileK = 64;
inline constexpr int64_t kGemmThreads = 128;

/// The tensor-core GEMM for larger batches (f16/bf16 compute,
/// K % 64 == 0): weight tiles dequantized into shared memory, ldmatrix and
/// m16n8k16. Grid: ceil(N / 64) x ceil(M / 64).
::mlir::gpu::GPUFuncOp getGemm4bitMmaKernel(ModuleOp module,
                                            const Linear4bitConfig &config);

/// Writes `acc` (f32) plus the bias as output element `index`:
/// Tout(T(acc + f32(T(bias[n])))).
void storeLinear4bitOutput(KernelBuilder &b, const Linear4bitConfig &config,
                           const Linear4bitArgs &args, Value acc, Value n,
                           Value index);

/// The absmax of the block holding flattened weight element `element`,
/// reconstructed from the nested state under double quantization.
Value linear4bitBlockScale(KernelBuilder &b, const Linear4bitConfig &config,
                           const Linear4bitArgs &args, Value element);

/// The lane-resident code-book register of this lane: code (lane % 16) as
/// a T value duplicated into both halves of an i32 (f16/bf16), or the f32
/// value itself (f32).
Value codebookRegister(KernelBuilder &b, QuantType quantType, Type type);

} // namespace mlir::bnb::gpu

#endif // BNB_CONVERSION_BNBTOGPU_LINEAR4BITKERNELS_H
