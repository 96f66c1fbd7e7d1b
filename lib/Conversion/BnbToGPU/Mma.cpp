//===- Mma.cpp - warp-level tensor-core helpers ---------------------------===//

#include "Mma.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::bnb::gpu;

namespace {

/// A [rows x perRow] vector of `elementType` whose rows are the i32
/// registers `regs`.
Value registersToVector(KernelBuilder &b, ValueRange regs, Type elementType) {
  int64_t perRow = 32 / elementType.getIntOrFloatBitWidth();
  auto rowType = VectorType::get({perRow}, elementType);
  auto type = VectorType::get({static_cast<int64_t>(regs.size()), perRow},
                              elementType);
  Value v = arith::ConstantOp::create(b, type, b.getZeroAttr(type));
  for (auto [i, reg] : llvm::enumerate(regs))
    v = vector::InsertOp::create(b, b.bitcast(reg, rowType), v,
                                 ArrayRef<int64_t>{static_cast<int64_t>(i)});
  return v;
}

Value accumulatorsToVector(KernelBuilder &b, ValueRange c) {
  auto type = VectorType::get({2, 2}, c.front().getType());
  return vector::FromElementsOp::create(b, type, c);
}

SmallVector<Value> vectorToAccumulators(KernelBuilder &b, Value d) {
  SmallVector<Value> out;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j)
      out.push_back(vector::ExtractOp::create(b, d, ArrayRef<int64_t>{i, j}));
  return out;
}

} // namespace

SmallVector<Value> mlir::bnb::gpu::mmaF16(KernelBuilder &b, Type elementType,
                                          ValueRange a, ValueRange bRegs,
                                          ValueRange c) {
  if (elementType.isF16()) {
    Value d = nvgpu::MmaSyncOp::create(
        b, registersToVector(b, a, elementType),
        registersToVector(b, bRegs, elementType), accumulatorsToVector(b, c),
        ArrayRef<int64_t>{16, 8, 16});
    return vectorToAccumulators(b, d);
  }
  Type f32 = b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  Value d = NVVM::MmaOp::create(
      b, resultType, a, bRegs, c, ArrayRef<int64_t>{16, 8, 16},
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16,
                                    NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, d, ArrayRef<int64_t>{i}));
  return out;
}

SmallVector<Value> mlir::bnb::gpu::mmaS8(KernelBuilder &b, ValueRange a,
                                         ValueRange bRegs, ValueRange c) {
  Type i8 = b.getI8Type();
  Value d = nvgpu::MmaSyncOp::create(b, registersToVector(b, a, i8),
                                     registersToVector(b, bRegs, i8),
                                     accumulatorsToVector(b, c),
                                     ArrayRef<int64_t>{16, 8, 32});
  return vectorToAccumulators(b, d);
}

SmallVector<Value> mlir::bnb::gpu::ldmatrix(KernelBuilder &b, Value smem,
                                            ValueRange indices,
                                            int64_t numTiles) {
  Type elt = cast<MemRefType>(smem.getType()).getElementType();
  int64_t perRow = 32 / elt.getIntOrFloatBitWidth();
  auto type = VectorType::get({numTiles, perRow}, elt);
  Value v = nvgpu::LdMatrixOp::create(b, type, smem, indices,
                                      b.getBoolAttr(false),
                                      b.getI32IntegerAttr(numTiles));
  SmallVector<Value> regs;
  for (int64_t i = 0; i < numTiles; ++i)
    regs.push_back(b.bitcast(
        vector::ExtractOp::create(b, v, ArrayRef<int64_t>{i}), b.getI32Type()));
  return regs;
}
