//===- Gemv4bit.cpp - fused 4-bit dequant + GEMV kernels ------------------===//
//
// The small-batch kernels of bnb.linear_4bit:
//
// * Tensor-core GEMV (f16/bf16 compute). A block of 8 warps owns 16 output
//   features; the warps split K in steps of 128. Lane (g, t) loads 16 packed
//   bytes (32 codes) of feature rows g and g+8 at k = step*128 + 32t with one
//   128-bit load each, decodes them into f16x2/bf16x2 m16n8k16 A fragments
//   with one lookup per byte in the block's shared byte table (the 256 code
//   pairs, a copy per lane so that lookups are free of bank conflicts,
//   built once per block from a warp-shuffle code book), scales them by the
//   block absmax, and multiplies them with
//   x, which the same lane loads as the B fragment (x rows = MMA columns).
//   Since a dot product does not depend on the order of its terms, the
//   k slots of the MMA map to the lane's contiguous 32 elements: slot pair
//   2t at MMA q is element 4q of the lane's chunk, pair 2t+8 element 4q+2.
//   Warps reduce their f32 accumulators through shared memory.
// * SIMT GEMV (f32 compute), bitsandbytes' gemm_4bit_simt fp32 path: a warp
//   per output feature, lane l covering k = 1024s + 32l .. +31, FMA
//   accumulation, shuffle-down reduction.
// * A generic kernel for shapes the fast kernels do not cover.
//
//===----------------------------------------------------------------------===//

#include "Linear4bitKernels.h"
#include "Mma.h"

#include "bnb/Conversion/QuantCodegen.h"
#include "bnb/Quant/Blockwise.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;
using arith::CmpIPredicate;

//===----------------------------------------------------------------------===//
// Configuration and shared pieces
//===----------------------------------------------------------------------===//

SmallVector<Type> Linear4bitConfig::argTypes(MLIRContext *ctx) const {
  Type u8 = IntegerType::get(ctx, 8, IntegerType::Unsigned);
  Type f32 = Float32Type::get(ctx);
  SmallVector<Type> types = {kernelBufferType(inputType), kernelBufferType(u8),
                             kernelBufferType(nested ? u8 : f32)};
  if (nested) {
    types.push_back(kernelBufferType(f32));
    types.push_back(f32);
  }
  if (biasType)
    types.push_back(kernelBufferType(biasType));
  types.push_back(kernelBufferType(inputType));
  types.push_back(IndexType::get(ctx));
  return types;
}

std::string Linear4bitConfig::kernelName(StringRef kind) const {
  std::string name = llvm::formatv(
      "bnb_{0}_{1}_{2}_{3}_n{4}_k{5}_b{6}", kind, stringifyQuantType(quantType),
      typeTag(computeType), typeTag(inputType), n, k, blocksize);
  if (nested)
    name += "_dq";
  if (biasType)
    name += "_bias_" + typeTag(biasType);
  return name;
}

Linear4bitArgs::Linear4bitArgs(const Linear4bitConfig &config,
                               ValueRange args) {
  unsigned i = 0;
  x = args[i++];
  weight = args[i++];
  absmax = args[i++];
  if (config.nested) {
    nested = args[i++];
    offset = args[i++];
  }
  if (config.biasType)
    bias = args[i++];
  out = args[i++];
  m = args[i++];
}

void mlir::bnb::gpu::storeLinear4bitOutput(KernelBuilder &b,
                                           const Linear4bitConfig &config,
                                           const Linear4bitArgs &args,
                                           Value acc, Value n, Value index) {
  Type f32 = b.getF32Type();
  if (args.bias) {
    // bitsandbytes casts the bias to the compute dtype once, then adds it in
    // f32 to the accumulator.
    Value bias = b.castFloat(b.load(args.bias, b.toIndex(n)),
                             config.computeType);
    acc = b.fadd(acc, b.castFloat(bias, f32));
  }
  Value result = b.castFloat(b.castFloat(acc, config.computeType),
                             config.inputType);
  b.store(result, args.out, b.toIndex(index));
}

/// Bits of `value` (an f32 bit pattern) rounded to `type`.
static uint32_t roundedBits(uint32_t f32Bits, Type type) {
  APFloat v(APFloat::IEEEsingle(), APInt(32, f32Bits));
  bool lost;
  v.convert(cast<FloatType>(type).getFloatSemantics(),
            APFloat::rmNearestTiesToEven, &lost);
  return static_cast<uint32_t>(v.bitcastToAPInt().getZExtValue());
}

Value mlir::bnb::gpu::codebookRegister(KernelBuilder &b, QuantType quantType,
                                       Type type) {
  SmallVector<uint32_t> codes =
      f32BitPatterns(codegen::codeTable4bit(quantType));
  Value lane = b.andi(b.laneId(), 15);
  if (type.isF32())
    return lookupCode4bit(b, quantType, lane);
  SmallVector<uint32_t> packed;
  for (uint32_t bits : codes) {
    uint32_t half = roundedBits(bits, type);
    packed.push_back(half | (half << 16));
  }
  std::string name = llvm::formatv("bnb_{0}_code_{1}x2",
                                   stringifyQuantType(quantType), typeTag(type));
  Value table = b.constantTable(name, b.getI32Type(), packed);
  return b.load(table, b.toIndex(lane));
}

Value mlir::bnb::gpu::linear4bitBlockScale(KernelBuilder &b,
                                           const Linear4bitConfig &config,
                                           const Linear4bitArgs &args,
                                           Value element) {
  Value block = b.divu(element, config.blocksize);
  if (!config.nested)
    return b.load(args.absmax, b.toIndex(block));
  Value q = b.zext(b.loadByte(args.absmax, b.toIndex(block)), b.getI32Type());
  Value nested = b.load(
      args.nested, b.toIndex(b.divu(block, ::bnb::quant::kNestedBlocksize)));
  return codegen::emitDoubleQuantAbsmax(b, b.getLoc(), q, nested, args.offset,
                                        DynamicMapLookup{b});
}

/// The 32 elements of x from element `index` as 16 i32 registers holding
/// compute-dtype pairs.
static SmallVector<Value> loadActivationPairs(KernelBuilder &b,
                                              const Linear4bitConfig &config,
                                              Value x, Value index) {
  Type i32 = b.getI32Type();
  int64_t perLoad = 128 / config.inputType.getIntOrFloatBitWidth();
  SmallVector<Value> regs;
  for (int64_t off = 0; off < 32; off += perLoad) {
    Value v = b.loadVector(x, b.add(index, off), perLoad, 16);
    v = b.castFloat(v, VectorType::get({perLoad}, config.computeType));
    auto words = VectorType::get({perLoad / 2}, i32);
    Value w = vector::BitCastOp::create(b, words, v);
    for (int64_t i = 0; i < perLoad / 2; ++i)
      regs.push_back(vector::ExtractOp::create(b, w, ArrayRef<int64_t>{i}));
  }
  return regs;
}

/// Loads 16 packed bytes at byte `offset` when `valid`, zeros otherwise.
static Value loadPacked(KernelBuilder &b, Value weight, Value offset,
                        Value valid) {
  auto type = VectorType::get({4}, b.getI32Type());
  if (!valid)
    return b.loadBytes16(weight, b.toIndex(offset));
  return b.ifThenElse(
      valid, type,
      [&](KernelBuilder &b) -> SmallVector<Value> {
        return {b.loadBytes16(weight, b.toIndex(offset))};
      },
      [&](KernelBuilder &b) -> SmallVector<Value> {
        return {arith::ConstantOp::create(b, type, b.getZeroAttr(type))};
      })[0];
}

/// The block scale of `element`, or 0 when not `valid`.
static Value loadScale(KernelBuilder &b, const Linear4bitConfig &config,
                       const Linear4bitArgs &args, Value element,
                       Value valid) {
  if (!valid)
    return linear4bitBlockScale(b, config, args, element);
  return b.ifThenElse(
      valid, b.getF32Type(),
      [&](KernelBuilder &b) -> SmallVector<Value> {
        return {linear4bitBlockScale(b, config, args, element)};
      },
      [&](KernelBuilder &b) -> SmallVector<Value> {
        return {b.f32(0.0f)};
      })[0];
}

/// `a && b` where a null value means "statically true".
static Value andValid(KernelBuilder &b, Value a, Value c) {
  if (!a)
    return c;
  if (!c)
    return a;
  return b.andi(a, c);
}

//===----------------------------------------------------------------------===//
// Tensor-core GEMV
//===----------------------------------------------------------------------===//

namespace {

constexpr int64_t kGemvWarps = kGemvMmaThreads / 32;
constexpr int64_t kStepK = 128;

/// Copies of the byte table per block: one per lane, so that the 32 lanes
/// of a lookup hit 32 different banks whatever bytes they look up.
constexpr int64_t kLutCopies = 32;

/// Fills `lut` with the 256 code pairs of a byte, `kLutCopies` times:
/// word `byte * 32 + copy` holds T(code[byte >> 4]) in its low half (the
/// first element of a byte is its high nibble, bitsandbytes' packing) and
/// T(code[byte & 15]) in its high half. Each thread writes 16-byte chunks at
/// consecutive addresses, so the stores are free of bank conflicts.
void fillByteTable(KernelBuilder &b, Value lut, Value codebook) {
  Value tid = b.toI32(b.threadId());
  auto quad = VectorType::get({4}, b.getI32Type());
  constexpr int64_t chunks = 256 * kLutCopies / 4;
  for (int64_t i = 0; i < chunks / kGemvMmaThreads; ++i) {
    Value chunk = b.add(tid, i * kGemvMmaThreads);
    Value byte = b.shru(chunk, 3);
    Value hi = b.shuffleIdx(codebook, b.shru(byte, 4));
    Value lo = b.shuffleIdx(codebook, b.andi(byte, 15));
    Value pair = b.ori(b.andi(hi, 0xffff),
                       b.andi(lo, b.intConst(b.getI32Type(), 0xffff0000)));
    Value v = vector::BroadcastOp::create(b, quad, pair);
    b.storeVector(v, lut, b.toIndex(b.mul(chunk, 4)), 16);
  }
  b.barrier();
}

/// Decodes 16 packed bytes into 16 registers of T pairs scaled by the block
/// absmax: T(T(code) * T(absmax)) per element, bitsandbytes' SIMT weight
/// formula, two codes per f16x2/bf16x2 multiply. A byte's pair of codes is
/// one lookup in the lane's copy of the byte table (one shared-memory load
/// where two shuffles through a 16-entry code book would be needed).
SmallVector<Value> decodeChunk(KernelBuilder &b, Type type, Value packed,
                               Value scale, Value lut, Value lane) {
  Type i32 = b.getI32Type();
  auto pairType = VectorType::get({2}, type);
  Value scaleT = b.castFloat(scale, type);
  Value scale2 = vector::BroadcastOp::create(b, pairType, scaleT);
  SmallVector<Value> regs;
  for (int64_t w = 0; w < 4; ++w) {
    Value word = vector::ExtractOp::create(b, packed, ArrayRef<int64_t>{w});
    for (int64_t j = 0; j < 4; ++j) {
      Value byte = b.andi(j == 0 ? word : b.shru(word, 8 * j), 0xff);
      Value index = b.ori(b.shl(byte, 5), lane);
      Value pair = b.load(lut, {b.toIndex(index)});
      Value w2 = b.fmul(b.bitcast(pair, pairType), scale2);
      regs.push_back(b.bitcast(w2, i32));
    }
  }
  return regs;
}

void buildGemvMma(KernelBuilder &b, const Linear4bitConfig &config,
                  ValueRange rawArgs, int64_t tiles) {
  Linear4bitArgs args(config, rawArgs.drop_back(2));
  Value red = rawArgs[rawArgs.size() - 2], lut = rawArgs.back();
  Type i64 = b.getI64Type();
  const int64_t n = config.n, k = config.k;
  const int64_t steps = llvm::divideCeil(k, kStepK);
  const int64_t unroll =
      std::min<int64_t>(4, llvm::divideCeil(steps, kGemvWarps));
  const bool rowGuard = n % kGemvMmaRows != 0;
  const bool kGuard = k % kStepK != 0;
  const int64_t groups = llvm::divideCeil(steps, kGemvWarps * unroll);
  const bool stepGuard = steps % (kGemvWarps * unroll) != 0;

  // Out-of-range work is clamped to valid addresses and its block scale set
  // to 0, so that every load is unconditional and the MMAs add zeros: no
  // branch keeps the prefetched registers alive.
  Value lane = b.laneId(), warp = b.warpId();
  Value g = b.shru(lane, 2), t = b.andi(lane, 3);
  Value n0 = b.mul(b.toI32(b.blockId()), kGemvMmaRows);
  Value rowA = b.add(n0, g), rowB = b.add(rowA, 8);
  Value validA, validB;
  if (rowGuard) {
    validA = b.cmpi(CmpIPredicate::ult, rowA, n);
    validB = b.cmpi(CmpIPredicate::ult, rowB, n);
    rowA = b.select(validA, rowA, b.i32(0));
    rowB = b.select(validB, rowB, b.i32(0));
  }
  Value codebook = codebookRegister(b, config.quantType, config.computeType);
  fillByteTable(b, lut, codebook);
  Value rowAK = b.mul(b.zext(rowA, i64), k);
  Value rowBK = b.mul(b.zext(rowB, i64), k);
  Value m = b.toI32(args.m);
  // Rows of x beyond M read row 0: they only feed MMA columns that are
  // never stored.
  SmallVector<Value> xRows;
  for (int64_t tile = 0; tile < tiles; ++tile) {
    Value row = b.add(b.i32(tile * 8), g);
    xRows.push_back(b.select(b.cmpi(CmpIPredicate::ult, row, m), row, b.i32(0)));
  }

  SmallVector<Value> zeroAcc(tiles * 4, b.f32(0.0f));
  SmallVector<Value> acc = b.forLoop(
      b.idx(0), b.idx(groups), b.idx(1), zeroAcc,
      [&](KernelBuilder &b, Value group, ValueRange accIn) {
        Value group32 = b.toI32(group);
        struct Loaded {
          Value k0, valid, wA, wB, sA, sB;
        };
        SmallVector<Loaded> loaded;
        for (int64_t u = 0; u < unroll; ++u) {
          Loaded l;
          Value step = b.add(warp, b.mul(b.add(b.mul(group32, unroll), u),
                                         kGemvWarps));
          l.k0 = b.add(b.mul(step, kStepK), b.mul(t, 32));
          if (kGuard || stepGuard) {
            l.valid = b.cmpi(CmpIPredicate::ult, l.k0, k);
            l.k0 = b.select(l.valid, l.k0, b.i32(0));
          }
          Value k0 = b.zext(l.k0, i64);
          Value eA = b.add(rowAK, k0), eB = b.add(rowBK, k0);
          l.wA = b.loadBytes16(args.weight, b.toIndex(b.divu(eA, 2)));
          l.wB = b.loadBytes16(args.weight, b.toIndex(b.divu(eB, 2)));
          l.sA = linear4bitBlockScale(b, config, args, eA);
          l.sB = linear4bitBlockScale(b, config, args, eB);
          Value zero = b.f32(0.0f);
          if (Value v = andValid(b, l.valid, validA))
            l.sA = b.select(v, l.sA, zero);
          if (Value v = andValid(b, l.valid, validB))
            l.sB = b.select(v, l.sB, zero);
          loaded.push_back(l);
        }
        SmallVector<Value> accs(accIn);
        for (const Loaded &l : loaded) {
          SmallVector<Value> decA =
              decodeChunk(b, config.computeType, l.wA, l.sA, lut, lane);
          SmallVector<Value> decB =
              decodeChunk(b, config.computeType, l.wB, l.sB, lut, lane);
          for (int64_t tile = 0; tile < tiles; ++tile) {
            Value index = b.add(b.mul(b.zext(xRows[tile], i64), k),
                                b.zext(l.k0, i64));
            SmallVector<Value> xr =
                loadActivationPairs(b, config, args.x, b.toIndex(index));
            if (l.valid)
              for (Value &r : xr)
                r = b.select(l.valid, r, b.i32(0));
            for (int64_t q = 0; q < 8; ++q) {
              SmallVector<Value> c(accs.begin() + tile * 4,
                                   accs.begin() + tile * 4 + 4);
              SmallVector<Value> d = mmaF16(
                  b, config.computeType,
                  {decA[2 * q], decB[2 * q], decA[2 * q + 1], decB[2 * q + 1]},
                  {xr[2 * q], xr[2 * q + 1]}, c);
              std::copy(d.begin(), d.end(), accs.begin() + tile * 4);
            }
          }
        }
        return accs;
      });

  // Cross-warp reduction: red[warp][register][lane].
  Value warpIdx = b.toIndex(warp), laneIdx = b.toIndex(lane);
  for (int64_t r = 0; r < tiles * 4; ++r)
    b.store(acc[r], red, {warpIdx, b.idx(r), laneIdx});
  b.barrier();
  Value tid = b.toI32(b.threadId());
  b.ifThen(b.cmpi(CmpIPredicate::ult, tid, kGemvMmaRows * 8 * tiles),
           [&](KernelBuilder &b) {
    Value local = b.andi(tid, 15), row = b.shru(tid, 4);
    Value feature = b.add(n0, local);
    Value valid = b.cmpi(CmpIPredicate::ult, row, m);
    if (rowGuard)
      valid = b.andi(valid, b.cmpi(CmpIPredicate::ult, feature, n));
    b.ifThen(valid, [&](KernelBuilder &b) {
      Value gq = b.andi(local, 7), half = b.shru(local, 3);
      Value col = b.andi(row, 7), tile = b.shru(row, 3);
      Value reg = b.add(b.add(b.mul(tile, 4), b.mul(half, 2)), b.andi(col, 1));
      Value src = b.add(b.mul(gq, 4), b.shru(col, 1));
      Value sum = b.f32(0.0f);
      for (int64_t w = 0; w < kGemvWarps; ++w)
        sum = b.fadd(sum, b.load(red, {b.idx(w), b.toIndex(reg),
                                       b.toIndex(src)}));
      Value index = b.add(b.mul(b.zext(row, b.getI64Type()), n),
                          b.zext(feature, b.getI64Type()));
      storeLinear4bitOutput(b, config, args, sum, feature, index);
    });
  });
}

//===----------------------------------------------------------------------===//
// SIMT GEMV
//===----------------------------------------------------------------------===//

void buildGemvSimt(KernelBuilder &b, const Linear4bitConfig &config,
                   ValueRange rawArgs, int64_t rowsPerBlock) {
  Linear4bitArgs args(config, rawArgs);
  Type f32 = b.getF32Type(), i64 = b.getI64Type();
  const int64_t n = config.n, k = config.k;
  const int64_t steps = llvm::divideCeil(k, 1024);
  Value lane = b.laneId(), warp = b.warpId();
  Value feature = b.add(b.mul(b.toI32(b.blockId()), kGemvSimtOutputs), warp);
  Value featureValid = b.cmpi(CmpIPredicate::ult, feature, n);
  Value m0 = b.mul(b.toI32(b.blockId(::mlir::gpu::Dimension::y)),
                   rowsPerBlock);
  Value m = b.toI32(args.m);
  Value codebook = codebookRegister(b, config.quantType, f32);
  Value rowK = b.mul(b.zext(feature, i64), k);

  SmallVector<Value> zero(rowsPerBlock, b.f32(0.0f));
  SmallVector<Value> acc = b.forLoop(
      b.idx(0), b.idx(steps), b.idx(1), zero,
      [&](KernelBuilder &b, Value step, ValueRange accIn) {
        Value k0 = b.add(b.mul(b.toI32(step), 1024), b.mul(lane, 32));
        Value valid = b.andi(featureValid, b.cmpi(CmpIPredicate::ult, k0, k));
        Value e = b.add(rowK, b.zext(k0, i64));
        Value packed = loadPacked(b, args.weight, b.divu(e, 2), valid);
        Value scale = loadScale(b, config, args, e, valid);
        // w = f32(code * absmax); the first element is the high nibble.
        SmallVector<Value> w;
        for (int64_t wi = 0; wi < 4; ++wi) {
          Value word = vector::ExtractOp::create(b, packed, ArrayRef<int64_t>{wi});
          for (int64_t j = 0; j < 4; ++j) {
            Value byte = b.andi(b.shru(word, 8 * j), 0xff);
            Value hi = b.shuffleIdx(codebook, b.shru(byte, 4));
            w.push_back(codegen::emitDequantizeValue(b, b.getLoc(), hi, scale));
            Value lo = b.shuffleIdx(codebook, b.andi(byte, 15));
            w.push_back(codegen::emitDequantizeValue(b, b.getLoc(), lo, scale));
          }
        }
        SmallVector<Value> out(accIn);
        for (int64_t r = 0; r < rowsPerBlock; ++r) {
          Value row = b.add(m0, r);
          Value rowValid = b.andi(valid, b.cmpi(CmpIPredicate::ult, row, m));
          Value index = b.add(b.mul(b.zext(row, i64), k), b.zext(k0, i64));
          out[r] = b.ifThenElse(
              rowValid, f32,
              [&](KernelBuilder &b) -> SmallVector<Value> {
                int64_t perLoad =
                    128 / config.inputType.getIntOrFloatBitWidth();
                Value a = out[r];
                for (int64_t off = 0; off < 32; off += perLoad) {
                  Value v = b.loadVector(args.x, b.add(b.toIndex(index), off),
                                         perLoad, 16);
                  v = b.castFloat(v, VectorType::get({perLoad}, f32));
                  for (int64_t i = 0; i < perLoad; ++i)
                    a = b.fma(vector::ExtractOp::create(b, v,
                                                        ArrayRef<int64_t>{i}),
                              w[off + i], a);
                }
                return {a};
              },
              [&](KernelBuilder &) -> SmallVector<Value> { return {out[r]}; })[0];
        }
        return out;
      });

  SmallVector<Value> sums;
  for (Value a : acc)
    sums.push_back(b.warpSum(a));
  b.ifThen(b.andi(featureValid, b.cmpi(CmpIPredicate::eq, lane, 0)),
           [&](KernelBuilder &b) {
    for (int64_t r = 0; r < rowsPerBlock; ++r) {
      Value row = b.add(m0, r);
      b.ifThen(b.cmpi(CmpIPredicate::ult, row, m), [&](KernelBuilder &b) {
        Value index = b.add(b.mul(b.zext(row, i64), n), b.zext(feature, i64));
        storeLinear4bitOutput(b, config, args, sums[r], feature, index);
      });
    }
  });
}

//===----------------------------------------------------------------------===//
// Generic kernel
//===----------------------------------------------------------------------===//

void buildGeneric(KernelBuilder &b, const Linear4bitConfig &config,
                  ValueRange rawArgs) {
  Linear4bitArgs args(config, rawArgs);
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  Value index = b.add(b.mul(b.blockId(), kGenericThreads), b.threadId());
  Value total = b.mul(args.m, config.n);
  b.ifThen(b.cmpi(CmpIPredicate::ult, index, total), [&](KernelBuilder &b) {
    Value row = b.divu(index, config.n), feature = b.remu(index, config.n);
    Value xBase = b.mul(row, config.k), wBase = b.mul(feature, config.k);
    Value acc = b.forLoop(
        b.idx(0), b.idx(config.k), b.idx(1), ValueRange{b.f32(0.0f)},
        [&](KernelBuilder &b, Value kk, ValueRange a) -> SmallVector<Value> {
          Value e = b.add(wBase, kk);
          Value byte = b.zext(b.loadByte(args.weight, b.divu(e, 2)), i32);
          Value odd = b.cmpi(CmpIPredicate::ne, b.andi(e, 1), b.idx(0));
          Value code = codegen::emitUnpackNibble(b, b.getLoc(), byte, odd);
          Value scale = linear4bitBlockScale(b, config, args, e);
          // The weight as dequantize_4bit computes it in the compute dtype.
          Value w = b.castFloat(
              codegen::emitDequantizeValue(
                  b, b.getLoc(), lookupCode4bit(b, config.quantType, code),
                  scale),
              config.computeType);
          Value x = b.castFloat(b.load(args.x, b.add(xBase, kk)),
                                config.computeType);
          return {b.fma(b.castFloat(x, f32), b.castFloat(w, f32), a[0])};
        })[0];
    storeLinear4bitOutput(b, config, args, acc, feature, index);
  });
}

} // namespace

//===----------------------------------------------------------------------===//
// Kernel getters
//===----------------------------------------------------------------------===//

::mlir::gpu::GPUFuncOp
mlir::bnb::gpu::getGemv4bitMmaKernel(ModuleOp module,
                                     const Linear4bitConfig &config,
                                     int64_t tiles) {
  MLIRContext *ctx = module.getContext();
  std::string name =
      config.kernelName("gemv4_mma") + "_t" + std::to_string(tiles);
  MemRefType red = sharedBufferType({kGemvWarps, tiles * 4, 32},
                                    Float32Type::get(ctx));
  MemRefType lut =
      sharedBufferType({256 * kLutCopies}, IntegerType::get(ctx, 32));
  return getOrBuildKernel(
      module, name, config.argTypes(ctx), kGemvMmaThreads,
      [&](KernelBuilder &b, ValueRange args) {
        buildGemvMma(b, config, args, tiles);
      },
      {red, lut});
}

::mlir::gpu::GPUFuncOp
mlir::bnb::gpu::getGemv4bitSimtKernel(ModuleOp module,
                                      const Linear4bitConfig &config,
                                      int64_t rowsPerBlock) {
  std::string name =
      config.kernelName("gemv4_simt") + "_r" + std::to_string(rowsPerBlock);
  return getOrBuildKernel(module, name, config.argTypes(module.getContext()),
                          kGemvSimtThreads,
                          [&](KernelBuilder &b, ValueRange args) {
                            buildGemvSimt(b, config, args, rowsPerBlock);
                          });
}

::mlir::gpu::GPUFuncOp
mlir::bnb::gpu::getLinear4bitGenericKernel(ModuleOp module,
                                           const Linear4bitConfig &config) {
  return getOrBuildKernel(module, config.kernelName("linear4_generic"),
                          config.argTypes(module.getContext()),
                          kGenericThreads,
                          [&](KernelBuilder &b, ValueRange args) {
                            buildGeneric(b, config, args);
                          });
}
