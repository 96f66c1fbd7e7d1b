//===- Int8Gemm.cpp - int8 tensor-core GEMM with LLM.int8() epilogue ------===//
//
// C = A * B^T for row-major int8 A [M, K] and B [N, K]:
// * a block computes a tileM x tileN tile with warpsM x warpsN warps; k moves
//   in 64-byte slices through a 3-stage cp.async pipeline into shared
//   memory, where each 64-byte row is split in four 16-byte chunks stored at
//   chunk ^ ((row / 2) % 4) so that ldmatrix reads are free of bank
//   conflicts;
// * each warp loads m16 A fragments and pairs of n8 B fragments with
//   ldmatrix.x4 and runs mma.sync m16n8k32 s8 with int32 accumulators;
// * the epilogue writes the int32 result, or LLM.int8()'s output: outlier
//   columns (left in the int8 stream) are subtracted exactly in int32, the
//   product is dequantized as int8_mm_dequant does (an FMA with the bias
//   when it is f16), cast to the activation type, and the f16 outlier part
//   x[:, cols] * dequant(B[:, cols])^T is added in f32 with a single
//   rounding, as torch.addmm does.
//
//===----------------------------------------------------------------------===//

#include "Int8Kernels.h"
#include "Mma.h"

#include "bnb/Conversion/QuantCodegen.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;
using arith::CmpIPredicate;

namespace {
constexpr int64_t kStages = 3;
constexpr int64_t kChunk = 16;
} // namespace

std::string Int8GemmConfig::kernelName() const {
  std::string name = llvm::formatv("bnb_int8_gemm_{0}x{1}_w{2}x{3}", tileM,
                                   tileN, warpsM, warpsN);
  if (epilogue == Int8Epilogue::Int32)
    return name + "_i32";
  name += "_dequant_" + typeTag(outputType);
  if (biasType)
    name += "_bias_" + typeTag(biasType);
  if (outliers)
    name += "_outliers";
  return name;
}

/// The kernel argument types of `config`.
static SmallVector<Type> gemmArgTypes(MLIRContext *ctx,
                                      const Int8GemmConfig &config) {
  Builder b(ctx);
  Type i8 = b.getI8Type(), i32 = b.getI32Type(), f32 = b.getF32Type();
  Type index = b.getIndexType();
  bool dequant = config.epilogue == Int8Epilogue::Dequantize;
  SmallVector<Type> types = {
      kernelBufferType(i8), kernelBufferType(i8),
      kernelBufferType(dequant ? config.outputType : i32), index, index, index};
  if (!dequant)
    return types;
  types.append({kernelBufferType(f32), kernelBufferType(f32)});
  if (config.biasType)
    types.push_back(kernelBufferType(config.biasType));
  if (config.outliers)
    types.append({kernelBufferType(config.outputType), kernelBufferType(i32),
                  kernelBufferType(i32)});
  return types;
}

void mlir::bnb::gpu::storeInt8Output(KernelBuilder &b,
                                     const Int8GemmConfig &config,
                                     ValueRange args, Value acc, Value row,
                                     Value col) {
  Value a = args[0], bw = args[1], out = args[2], numCols = args[4],
        depth = args[5];
  Type f32 = b.getF32Type(), i32 = b.getI32Type(), i64 = b.getI64Type();
  Value row64 = b.toI64(row), col64 = b.toI64(col);
  Value index = b.toIndex(b.add(b.mul(row64, b.toI64(numCols)), col64));
  if (config.epilogue == Int8Epilogue::Int32) {
    b.store(acc, out, index);
    return;
  }
  unsigned i = 6;
  Value rowStats = args[i++], colStats = args[i++];
  Value bias = config.biasType ? args[i++] : Value();
  Value x, list, count;
  if (config.outliers) {
    x = args[i++];
    list = args[i++];
    count = args[i++];
  }
  Value depth64 = b.toI64(depth);
  Value aRow = b.mul(row64, depth64), bRow = b.mul(col64, depth64);
  Value colScale = b.load(colStats, b.toIndex(col64));
  Value outlierSum;
  if (config.outliers) {
    // Outlier columns stay in the int8 stream; their exact int32 share is
    // taken out here, which equals zeroing them in A.
    Value n = b.load(count, b.idx(0));
    SmallVector<Value> res = b.forLoop(
        b.idx(0), b.toIndex(n), b.idx(1), ValueRange{acc, b.f32(0.0f)},
        [&](KernelBuilder &b, Value j, ValueRange carried) -> SmallVector<Value> {
          Value c = b.zext(b.load(list, j), i64);
          Value qa = arith::ExtSIOp::create(b, i32,
                                            b.load(a, b.toIndex(b.add(aRow, c))));
          Value qb = arith::ExtSIOp::create(b, i32,
                                            b.load(bw, b.toIndex(b.add(bRow, c))));
          Value dot = b.sub(carried[0], b.mul(qa, qb));
          // subB = T(f32(f32(CB * SCB) * (1/127))), bitsandbytes'
          // int8_vectorwise_dequant of the weight column.
          Value w = codegen::emitDequantizeInt8Weight(b, b.getLoc(), qb,
                                                      colScale);
          w = b.castFloat(b.castFloat(w, config.outputType), f32);
          Value xv = b.castFloat(b.load(x, b.toIndex(b.add(aRow, c))), f32);
          return {dot, b.fma(xv, w, carried[1])};
        });
    acc = res[0];
    outlierSum = res[1];
  }
  // Linear8bitLt casts the bias to the activation dtype; int8_mm_dequant
  // fuses it only when that is f16, otherwise it is added to the f16 result.
  Value biasF32;
  if (bias)
    biasF32 = b.castFloat(
        b.castFloat(b.load(bias, b.toIndex(col64)), config.outputType), f32);
  bool fusedBias = bias && config.outputType.isF16();
  Value rowScale = b.load(rowStats, b.toIndex(row64));
  Value v = codegen::emitDequantizeInt8(b, b.getLoc(), acc, rowScale, colScale,
                                        fusedBias ? biasF32 : Value());
  if (bias && !fusedBias)
    v = b.castFloat(b.fadd(b.castFloat(v, f32), biasF32), b.getF16Type());
  // int8_scaled_mm returns A's dtype; the outlier product is added to that
  // tensor (addmm with beta = 1: one rounding after an f32 sum).
  Value result = b.castFloat(v, config.outputType);
  if (outlierSum)
    result = b.castFloat(b.fadd(b.castFloat(result, f32), outlierSum),
                         config.outputType);
  b.store(result, out, index);
}

namespace {

/// The physical 16-byte chunk of logical chunk `c` in row `row`.
Value swizzle(KernelBuilder &b, Value c, Value row) {
  return arith::XOrIOp::create(b, c, b.andi(b.shru(row, 1), 3));
}

void buildGemm(KernelBuilder &b, const Int8GemmConfig &config,
               ValueRange allArgs) {
  ValueRange args = allArgs.drop_back(2);
  Value smemA = allArgs[allArgs.size() - 2], smemB = allArgs.back();
  Value a = args[0], bw = args[1];
  Type i64 = b.getI64Type();
  const int64_t threads = config.threads();
  const int64_t warpTileM = config.tileM / config.warpsM;
  const int64_t warpTileN = config.tileN / config.warpsN;
  const int64_t mTiles = warpTileM / 16, nTiles = warpTileN / 8;

  Value tid = b.toI32(b.threadId()), lane = b.laneId(), warp = b.warpId();
  Value g = b.shru(lane, 2), t = b.andi(lane, 3);
  Value warpM = b.divu(warp, config.warpsN), warpN = b.remu(warp, config.warpsN);
  Value m = b.toI64(args[3]), n = b.toI64(args[4]);
  Value depth = b.toI64(args[5]);
  Value tileRow = b.mul(b.zext(b.toI32(b.blockId(::mlir::gpu::Dimension::y)), i64),
                        config.tileM);
  Value tileCol = b.mul(b.zext(b.toI32(b.blockId()), i64), config.tileN);
  Value kTiles = b.divu(depth, kInt8TileK);
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());

  // Issues the cp.async copies of k slice `kt` into stage `stage`; slices
  // past the end and rows past M/N are zero-filled.
  auto loadStage = [&](KernelBuilder &b, Value stage, Value kt) {
    Value ktValid = b.cmpi(CmpIPredicate::ult, kt, kTiles);
    Value ktClamped = b.select(ktValid, kt, b.intConst(i64, 0));
    SmallVector<Value> tokens;
    auto copyTile = [&](Value src, Value smem, int64_t rows, Value origin,
                        Value limit) {
      for (int64_t p = 0; p < rows * 4 / threads; ++p) {
        Value q = b.add(tid, p * threads);
        Value row = b.shru(q, 2), c = b.andi(q, 3);
        Value globalRow = b.add(origin, b.zext(row, i64));
        Value valid = b.andi(ktValid, b.cmpi(CmpIPredicate::ult, globalRow, limit));
        Value srcRow = b.select(valid, globalRow, b.intConst(i64, 0));
        Value offset = b.add(b.add(b.mul(srcRow, depth),
                                   b.mul(ktClamped, kInt8TileK)),
                             b.zext(b.mul(c, kChunk), i64));
        Value dstCol = b.mul(swizzle(b, c, row), kChunk);
        Value bytes = b.toIndex(b.select(valid, b.i32(kChunk), b.i32(0)));
        tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
            b, tokenType, smem, ValueRange{stage, b.toIndex(row), b.toIndex(dstCol)},
            src, ValueRange{b.toIndex(offset)}, b.getIndexAttr(kChunk), bytes,
            /*bypassL1=*/b.getUnitAttr()));
      }
    };
    copyTile(a, smemA, config.tileM, tileRow, m);
    copyTile(bw, smemB, config.tileN, tileCol, n);
    return nvgpu::DeviceAsyncCreateGroupOp::create(b, tokenType, tokens)
        .getResult();
  };

  Value group;
  for (int64_t s = 0; s + 1 < kStages; ++s)
    group = loadStage(b, b.idx(s), b.intConst(i64, s));

  SmallVector<Value> init(mTiles * nTiles * 4, b.i32(0));
  init.push_back(group);
  SmallVector<Value> acc = b.forLoop(
      b.idx(0), b.toIndex(kTiles), b.idx(1), init,
      [&](KernelBuilder &b, Value kt, ValueRange carried) -> SmallVector<Value> {
        nvgpu::DeviceAsyncWaitOp::create(b, carried.back(),
                                         b.getI32IntegerAttr(kStages - 2));
        b.barrier();
        Value kt64 = b.toI64(kt);
        Value next = b.add(kt64, kStages - 1);
        Value nextGroup =
            loadStage(b, b.toIndex(b.remu(next, kStages)), next);
        Value stage = b.remu(kt, kStages);
        SmallVector<Value> accs(carried.drop_back());
        for (int64_t kk = 0; kk < 2; ++kk) {
          SmallVector<SmallVector<Value>> aFrag, bFrag;
          for (int64_t mt = 0; mt < mTiles; ++mt) {
            Value row = b.add(b.add(b.mul(warpM, warpTileM), mt * 16),
                              b.andi(lane, 15));
            Value c = b.add(b.shru(lane, 4), kk * 2);
            Value col = b.mul(swizzle(b, c, row), kChunk);
            aFrag.push_back(ldmatrix(b, smemA,
                                     {stage, b.toIndex(row), b.toIndex(col)}, 4));
          }
          for (int64_t np = 0; np < nTiles / 2; ++np) {
            Value mi = b.shru(lane, 3);
            Value row = b.add(b.add(b.mul(warpN, warpTileN), np * 16),
                              b.add(b.mul(b.shru(mi, 1), 8), b.andi(lane, 7)));
            Value c = b.add(b.andi(mi, 1), kk * 2);
            Value col = b.mul(swizzle(b, c, row), kChunk);
            SmallVector<Value> r = ldmatrix(
                b, smemB, {stage, b.toIndex(row), b.toIndex(col)}, 4);
            bFrag.push_back({r[0], r[1]});
            bFrag.push_back({r[2], r[3]});
          }
          for (int64_t mt = 0; mt < mTiles; ++mt)
            for (int64_t nt = 0; nt < nTiles; ++nt) {
              int64_t base = (mt * nTiles + nt) * 4;
              SmallVector<Value> c(accs.begin() + base, accs.begin() + base + 4);
              SmallVector<Value> d = mmaS8(b, aFrag[mt], bFrag[nt], c);
              std::copy(d.begin(), d.end(), accs.begin() + base);
            }
        }
        accs.push_back(nextGroup);
        return accs;
      });
  acc.pop_back();

  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t nt = 0; nt < nTiles; ++nt)
      for (int64_t e = 0; e < 4; ++e) {
        Value row = b.add(tileRow,
                          b.zext(b.add(b.add(b.mul(warpM, warpTileM), mt * 16 +
                                                                     8 * (e / 2)),
                                       g),
                                 i64));
        Value col = b.add(tileCol,
                          b.zext(b.add(b.add(b.mul(warpN, warpTileN),
                                             nt * 8 + e % 2),
                                       b.mul(t, 2)),
                                 i64));
        Value valid = b.andi(b.cmpi(CmpIPredicate::ult, row, m),
                             b.cmpi(CmpIPredicate::ult, col, n));
        b.ifThen(valid, [&](KernelBuilder &b) {
          storeInt8Output(b, config, args, acc[(mt * nTiles + nt) * 4 + e],
                          row, col);
        });
      }
}

void buildGeneric(KernelBuilder &b, const Int8GemmConfig &config,
                  ValueRange args) {
  Type i32 = b.getI32Type();
  Value a = args[0], bw = args[1], m = args[3], n = args[4], depth = args[5];
  Value index = b.add(b.mul(b.blockId(), kElementwiseThreads), b.threadId());
  b.ifThen(b.cmpi(CmpIPredicate::ult, index, b.mul(m, n)),
           [&](KernelBuilder &b) {
    Value row = arith::DivUIOp::create(b, index, n);
    Value col = arith::RemUIOp::create(b, index, n);
    Value aRow = b.mul(row, depth), bRow = b.mul(col, depth);
    Value acc = b.forLoop(
        b.idx(0), depth, b.idx(1), ValueRange{b.i32(0)},
        [&](KernelBuilder &b, Value kk, ValueRange s) -> SmallVector<Value> {
          Value qa = arith::ExtSIOp::create(b, i32, b.load(a, b.add(aRow, kk)));
          Value qb = arith::ExtSIOp::create(b, i32, b.load(bw, b.add(bRow, kk)));
          return {b.add(s[0], b.mul(qa, qb))};
        })[0];
    storeInt8Output(b, config, args, acc, b.toI64(row), b.toI64(col));
  });
}

} // namespace

::mlir::gpu::GPUFuncOp
mlir::bnb::gpu::getInt8GemmKernel(ModuleOp module,
                                  const Int8GemmConfig &config) {
  MLIRContext *ctx = module.getContext();
  Type i8 = IntegerType::get(ctx, 8);
  return getOrBuildKernel(
      module, config.kernelName(), gemmArgTypes(ctx, config), config.threads(),
      [&](KernelBuilder &b, ValueRange args) { buildGemm(b, config, args); },
      {sharedBufferType({kStages, config.tileM, kInt8TileK}, i8),
       sharedBufferType({kStages, config.tileN, kInt8TileK}, i8)});
}

::mlir::gpu::GPUFuncOp
mlir::bnb::gpu::getInt8GenericKernel(ModuleOp module,
                                     const Int8GemmConfig &config) {
  std::string name = config.kernelName();
  name.replace(0, std::string("bnb_int8_gemm").size(), "bnb_int8_generic");
  return getOrBuildKernel(
      module, name, gemmArgTypes(module.getContext(), config),
      kElementwiseThreads,
      [&](KernelBuilder &b, ValueRange args) { buildGeneric(b, config, args); });
}
