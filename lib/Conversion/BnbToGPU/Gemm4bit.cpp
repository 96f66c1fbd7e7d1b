//===- Gemm4bit.cpp - 4-bit tensor-core GEMM for larger batches -----------===//
//
// y = x * W^T for batches beyond the GEMV kernels (f16/bf16 compute,
// K % 64 == 0). A block of four warps computes a 64 x 64 output tile; for
// each 64-wide k slice it
// * loads the x tile, cast to the compute dtype, into shared memory;
// * dequantizes the weight tile into shared memory as bitsandbytes' MMA
//   kernels do, T(f32(code * absmax)): each thread decodes 32 codes of one
//   row with one 128-bit load, one absmax and a warp-shuffle code book;
// * multiplies with ldmatrix.x4 fragments and mma.sync m16n8k16, f32
//   accumulators (2 x 4 tiles of 16 x 8 per warp).
// Rows are padded by 8 elements (a 144-byte stride) so that the eight row
// addresses of an ldmatrix hit distinct banks.
//
//===----------------------------------------------------------------------===//

#include "Linear4bitKernels.h"
#include "Mma.h"

#include "bnb/Conversion/QuantCodegen.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;
using arith::CmpIPredicate;

namespace {

constexpr int64_t kPad = 8;
constexpr int64_t kRowStride = kGemmTileK + kPad;
constexpr int64_t kWarpTile = 32;

void buildGemm(KernelBuilder &b, const Linear4bitConfig &config,
               ValueRange allArgs) {
  Linear4bitArgs args(config, allArgs.drop_back(2));
  Value xs = allArgs[allArgs.size() - 2], ws = allArgs.back();
  Type t = config.computeType, i64 = b.getI64Type(), f32 = b.getF32Type();
  const int64_t n = config.n, k = config.k;
  Value tid = b.toI32(b.threadId()), lane = b.laneId(), warp = b.warpId();
  Value g = b.shru(lane, 2), tq = b.andi(lane, 3);
  Value warpM = b.shru(warp, 1), warpN = b.andi(warp, 1);
  Value m = b.toI64(args.m);
  Value tileRow = b.mul(b.toI64(b.blockId(::mlir::gpu::Dimension::y)),
                        kGemmTileM);
  Value tileCol = b.mul(b.toI64(b.blockId()), kGemmTileN);
  Value codebook = codebookRegister(b, config.quantType, f32);
  auto vec8 = VectorType::get({8}, t);

  SmallVector<Value> init(2 * 4 * 4, b.f32(0.0f));
  SmallVector<Value> acc = b.forLoop(
      b.idx(0), b.idx(k / kGemmTileK), b.idx(1), init,
      [&](KernelBuilder &b, Value kt, ValueRange accIn) -> SmallVector<Value> {
        Value k0 = b.mul(b.toI64(kt), kGemmTileK);
        // x tile: 64 rows x 64 k, eight elements per thread and step.
        for (int64_t p = 0; p < kGemmTileM * kGemmTileK / 8 / kGemmThreads;
             ++p) {
          Value c = b.add(tid, p * kGemmThreads);
          Value row = b.shru(c, 3), col = b.mul(b.andi(c, 7), 8);
          Value globalRow = b.add(tileRow, b.toI64(row));
          Value valid = b.cmpi(CmpIPredicate::ult, globalRow, m);
          Value srcRow = b.select(valid, globalRow, b.intConst(i64, 0));
          Value index = b.add(b.add(b.mul(srcRow, k), k0), b.toI64(col));
          int64_t alignment =
              8 * config.inputType.getIntOrFloatBitWidth() / 8;
          Value v = b.loadVector(args.x, b.toIndex(index), 8,
                                 std::min<int64_t>(alignment, 16));
          v = b.castFloat(v, vec8);
          Value zero = arith::ConstantOp::create(b, vec8, b.getZeroAttr(vec8));
          v = b.select(valid, v, zero);
          b.storeVector(v, xs, b.toIndex(b.add(b.mul(row, kRowStride), col)),
                        16);
        }
        // Weight tile: 64 rows x 64 codes, 32 codes (16 bytes) per thread.
        {
          Value row = b.shru(tid, 1), half = b.andi(tid, 1);
          Value feature = b.add(tileCol, b.toI64(row));
          Value valid = b.cmpi(CmpIPredicate::ult, feature, n);
          Value srcRow = b.select(valid, feature, b.intConst(i64, 0));
          Value element = b.add(b.add(b.mul(srcRow, k), k0),
                                b.mul(b.toI64(half), 32));
          Value packed = b.loadBytes16(args.weight, b.toIndex(b.divu(element, 2)));
          Value scale = b.select(valid, linear4bitBlockScale(b, config, args, element),
                                 b.f32(0.0f));
          SmallVector<Value> values;
          for (int64_t w = 0; w < 4; ++w) {
            Value word =
                vector::ExtractOp::create(b, packed, ArrayRef<int64_t>{w});
            for (int64_t j = 0; j < 4; ++j) {
              Value byte = b.andi(b.shru(word, 8 * j), 0xff);
              for (Value code : {b.shru(byte, 4), b.andi(byte, 15)})
                values.push_back(b.castFloat(
                    codegen::emitDequantizeValue(
                        b, b.getLoc(), b.shuffleIdx(codebook, code), scale),
                    t));
            }
          }
          Value base = b.add(b.mul(row, kRowStride), b.mul(half, 32));
          for (int64_t j = 0; j < 4; ++j) {
            Value v = vector::FromElementsOp::create(
                b, vec8, ArrayRef<Value>(values).slice(8 * j, 8));
            b.storeVector(v, ws, b.toIndex(b.add(base, 8 * j)), 16);
          }
        }
        b.barrier();
        SmallVector<Value> accs(accIn);
        Value xs2 = xs, ws2 = ws;
        for (int64_t kk = 0; kk < kGemmTileK / 16; ++kk) {
          SmallVector<SmallVector<Value>> aFrag, bFrag;
          for (int64_t mt = 0; mt < 2; ++mt) {
            Value row = b.add(b.add(b.mul(warpM, kWarpTile), mt * 16),
                              b.andi(lane, 15));
            Value col = b.add(b.mul(b.shru(lane, 4), 8), kk * 16);
            aFrag.push_back(ldmatrix(
                b, xs2, {b.toIndex(b.add(b.mul(row, kRowStride), col))}, 4));
          }
          for (int64_t np = 0; np < 2; ++np) {
            Value mi = b.shru(lane, 3);
            Value row = b.add(b.add(b.mul(warpN, kWarpTile), np * 16),
                              b.add(b.mul(b.shru(mi, 1), 8), b.andi(lane, 7)));
            Value col = b.add(b.mul(b.andi(mi, 1), 8), kk * 16);
            SmallVector<Value> r = ldmatrix(
                b, ws2, {b.toIndex(b.add(b.mul(row, kRowStride), col))}, 4);
            bFrag.push_back({r[0], r[1]});
            bFrag.push_back({r[2], r[3]});
          }
          for (int64_t mt = 0; mt < 2; ++mt)
            for (int64_t nt = 0; nt < 4; ++nt) {
              int64_t base = (mt * 4 + nt) * 4;
              SmallVector<Value> c(accs.begin() + base, accs.begin() + base + 4);
              SmallVector<Value> d = mmaF16(b, t, aFrag[mt], bFrag[nt], c);
              std::copy(d.begin(), d.end(), accs.begin() + base);
            }
        }
        b.barrier();
        return accs;
      });

  for (int64_t mt = 0; mt < 2; ++mt)
    for (int64_t nt = 0; nt < 4; ++nt)
      for (int64_t e = 0; e < 4; ++e) {
        Value row = b.add(tileRow,
                          b.toI64(b.add(b.add(b.mul(warpM, kWarpTile),
                                              mt * 16 + 8 * (e / 2)),
                                        g)));
        Value feature = b.add(tileCol,
                              b.toI64(b.add(b.add(b.mul(warpN, kWarpTile),
                                                  nt * 8 + e % 2),
                                            b.mul(tq, 2))));
        Value valid = b.andi(b.cmpi(CmpIPredicate::ult, row, m),
                             b.cmpi(CmpIPredicate::ult, feature, n));
        b.ifThen(valid, [&](KernelBuilder &b) {
          Value index = b.add(b.mul(row, n), feature);
          storeLinear4bitOutput(b, config, args, acc[(mt * 4 + nt) * 4 + e],
                                feature, index);
        });
      }
}

} // namespace

::mlir::gpu::GPUFuncOp
mlir::bnb::gpu::getGemm4bitMmaKernel(ModuleOp module,
                                     const Linear4bitConfig &config) {
  MLIRContext *ctx = module.getContext();
  MemRefType tile = sharedBufferType({kGemmTileM * kRowStride},
                                     config.computeType);
  return getOrBuildKernel(
      module, config.kernelName("gemm4_mma"), config.argTypes(ctx),
      kGemmThreads,
      [&](KernelBuilder &b, ValueRange args) { buildGemm(b, config, args); },
      {tile, tile});
}
