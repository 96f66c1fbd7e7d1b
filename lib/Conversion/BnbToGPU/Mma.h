//===- Mma.h - warp-level tensor-core helpers ---------------------*- C++ -*-===//
//
// mma.sync and ldmatrix on fragments kept as 32-bit registers (i32 holding
// two 16-bit or four 8-bit elements), the layout PTX defines for
// m16n8k16 (f16/bf16) and m16n8k32 (s8): for lane (g = lane / 4,
// t = lane % 4), A register r covers row g + 8 * (r % 2) and the k pair/quad
// at 2t (+8 for r >= 2), B register r covers column g and the k pair/quad at
// 2t (+8 for r = 1), accumulator c covers row g + 8 * (c / 2) and column
// 2t + c % 2.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_BNBTOGPU_MMA_H
#define BNB_CONVERSION_BNBTOGPU_MMA_H

#include "KernelBuilder.h"

namespace mlir::bnb::gpu {

/// D = A * B + C for m16n8k16 with f16 or bf16 (`elementType`) operands and
/// f32 accumulators: `a` has 4 and `b` 2 i32 registers, `c` 4 f32 values.
/// f16 uses nvgpu.mma.sync; bf16, which nvgpu.mma.sync does not accept in
/// MLIR 22, uses nvvm.mma.sync.
SmallVector<Value> mmaF16(KernelBuilder &b, Type elementType, ValueRange a,
                          ValueRange bRegs, ValueRange c);

/// D = A * B + C for m16n8k32 with s8 operands and i32 accumulators
/// (satfinite): `a` has 4 and `b` 2 i32 registers, `c` 4 i32 values.
SmallVector<Value> mmaS8(KernelBuilder &b, ValueRange a, ValueRange bRegs,
                         ValueRange c);

/// ldmatrix of `numTiles` 8x8 b16 matrices from shared memory `smem` at
/// `indices` (this lane's row address); returns one i32 per tile.
SmallVector<Value> ldmatrix(KernelBuilder &b, Value smem, ValueRange indices,
                            int64_t numTiles);

} // namespace mlir::bnb::gpu

#endif // BNB_CONVERSION_BNBTOGPU_MMA_H
