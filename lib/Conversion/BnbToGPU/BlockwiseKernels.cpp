//===- BlockwiseKernels.cpp - blockwise quantize/dequantize kernels -------===//
//
// GPU kernels for the blockwise primitives: 4-bit NF4/FP4 and 8-bit
// dynamic-map quantization and dequantization. Quantization runs one warp
// per block (absmax by a shuffle reduction, then codes); dequantization one
// thread per byte (4-bit) or element (8-bit). Numerics are bitsandbytes' with
// the project's IEEE reciprocal: x = f32(a * (1/absmax)) with 1/absmax
// correctly rounded, w = T(f32(code * absmax)), emitted by QuantCodegen.
//
//===----------------------------------------------------------------------===//

#include "HostUtils.h"
#include "Kernels.h"

#include "bnb/Conversion/QuantCodegen.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/FormatVariadic.h"

#include <cfloat>

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::codegen;
using namespace mlir::bnb::gpu;
using arith::CmpIPredicate;

namespace {

constexpr int64_t kElementwiseBlock = 256;
constexpr int64_t kWarpsPerBlock = 8;

/// Global thread index of a 1-D launch, as an index.
Value globalThreadIndex(KernelBuilder &b) {
  return b.add(b.mul(b.blockId(), kElementwiseBlock), b.threadId());
}

//===----------------------------------------------------------------------===//
// 4-bit
//===----------------------------------------------------------------------===//

/// out[e] = T(f32(code[nibble(e)] * absmax[e / B])), one thread per byte.
void buildDequantize4bit(KernelBuilder &b, ValueRange args, QuantType qt,
                         int64_t blocksize, Type outType) {
  Value packed = args[0], absmax = args[1], out = args[2], n = args[3];
  Value p = globalThreadIndex(b);
  Value numBytes = b.divu(b.add(n, 1), 2);
  b.ifThen(b.cmpi(CmpIPredicate::ult, p, numBytes), [&](KernelBuilder &b) {
    Value byte = b.zext(b.loadByte(packed, p), b.getI32Type());
    Value e = b.mul(p, 2);
    Value scale = b.load(absmax, b.divu(e, blocksize));
    Value hi = lookupCode4bit(b, qt, b.shru(byte, 4));
    b.store(b.castFloat(emitDequantizeValue(b, b.getLoc(), hi, scale), outType),
            out, e);
    Value e1 = b.add(e, 1);
    b.ifThen(b.cmpi(CmpIPredicate::ult, e1, n), [&](KernelBuilder &b) {
      Value lo = lookupCode4bit(b, qt, b.andi(byte, 15));
      b.store(
          b.castFloat(emitDequantizeValue(b, b.getLoc(), lo, scale), outType),
          out, e1);
    });
  });
}

/// One warp per block: absmax, then two codes per byte (first element in the
/// high nibble; an odd tail is padded with 0).
void buildQuantize4bit(KernelBuilder &b, ValueRange args, QuantType qt,
                       int64_t blocksize) {
  Value input = args[0], packed = args[1], absmax = args[2], n = args[3],
        numBlocks = args[4];
  Value block = b.toIndex(
      b.add(b.mul(b.toI32(b.blockId()), kWarpsPerBlock), b.warpId()));
  Value lane = b.toIndex(b.laneId());
  Type f32 = b.getF32Type();
  b.ifThen(b.cmpi(CmpIPredicate::ult, block, numBlocks), [&](KernelBuilder &b) {
    Value base = b.mul(block, blocksize);
    auto loadElement = [&](KernelBuilder &b, Value e) {
      return b.ifThenElse(
          b.cmpi(CmpIPredicate::ult, e, n), f32,
          [&](KernelBuilder &b) -> SmallVector<Value> {
            return {b.castFloat(b.load(input, e), f32)};
          },
          [&](KernelBuilder &b) -> SmallVector<Value> {
            return {b.f32(0.0f)};
          })[0];
    };
    Value pairs = b.idx(blocksize / 2), step = b.idx(32);
    // The kernels' start value: a full block of NaN keeps -FLT_MAX; a
    // partial block's zero padding takes part (loadElement gives 0).
    Value localMax = b.forLoop(
        lane, pairs, step, ValueRange{b.f32(-FLT_MAX)},
        [&](KernelBuilder &b, Value j, ValueRange acc) -> SmallVector<Value> {
          Value e = b.add(base, b.mul(j, 2));
          Value m = b.fmax(acc[0], b.fabs(loadElement(b, e)));
          return {b.fmax(m, b.fabs(loadElement(b, b.add(e, 1))))};
        })[0];
    Value blockMax = b.warpMax(localMax);
    b.ifThen(b.cmpi(CmpIPredicate::eq, lane, b.idx(0)), [&](KernelBuilder &b) {
      b.store(blockMax, absmax, block);
    });
    Location loc = b.getLoc();
    Value inv = emitReciprocal(b, loc, blockMax);
    b.forLoop(lane, pairs, step, [&](KernelBuilder &b, Value j) {
      Value e = b.add(base, b.mul(j, 2));
      b.ifThen(b.cmpi(CmpIPredicate::ult, e, n), [&](KernelBuilder &b) {
        Value x0 = emitNormalize(b, loc, loadElement(b, e), inv);
        Value c0 = emitEncode4bit(b, loc, qt, x0);
        Value x1 = emitNormalize(b, loc, loadElement(b, b.add(e, 1)), inv);
        Value c1 = emitEncode4bit(b, loc, qt, x1);
        Value byte = emitPackNibbles(b, loc, c0, c1);
        b.storeByte(b.trunc(byte, b.getI8Type()), packed, b.divu(e, 2));
      });
    });
  });
}

//===----------------------------------------------------------------------===//
// 8-bit dynamic map
//===----------------------------------------------------------------------===//

void buildQuantizeBlockwise(KernelBuilder &b, ValueRange args,
                            int64_t blocksize) {
  Value input = args[0], codes = args[1], absmax = args[2], n = args[3],
        numBlocks = args[4];
  Value block = b.toIndex(
      b.add(b.mul(b.toI32(b.blockId()), kWarpsPerBlock), b.warpId()));
  Value lane = b.toIndex(b.laneId());
  Type f32 = b.getF32Type();
  b.ifThen(b.cmpi(CmpIPredicate::ult, block, numBlocks), [&](KernelBuilder &b) {
    Value base = b.mul(block, blocksize);
    Value size = b.idx(blocksize), step = b.idx(32);
    // As for 4-bit: -FLT_MAX for a full block of NaN, at least 0 for a
    // partial block (its zero padding takes part).
    Value localMax = b.forLoop(
        lane, size, step, ValueRange{b.f32(-FLT_MAX)},
        [&](KernelBuilder &b, Value j, ValueRange acc) -> SmallVector<Value> {
          Value e = b.add(base, j);
          return b.ifThenElse(
              b.cmpi(CmpIPredicate::ult, e, n), f32,
              [&](KernelBuilder &b) -> SmallVector<Value> {
                Value a = b.fabs(b.castFloat(b.load(input, e), f32));
                return {b.fmax(acc[0], a)};
              },
              [&](KernelBuilder &b) -> SmallVector<Value> {
                return {b.fmax(acc[0], b.f32(0.0f))};
              });
        })[0];
    Value blockMax = b.warpMax(localMax);
    b.ifThen(b.cmpi(CmpIPredicate::eq, lane, b.idx(0)), [&](KernelBuilder &b) {
      b.store(blockMax, absmax, block);
    });
    Location loc = b.getLoc();
    Value inv = emitReciprocal(b, loc, blockMax);
    b.forLoop(lane, size, step, [&](KernelBuilder &b, Value j) {
      Value e = b.add(base, j);
      b.ifThen(b.cmpi(CmpIPredicate::ult, e, n), [&](KernelBuilder &b) {
        Value a = b.castFloat(b.load(input, e), f32);
        Value x = emitNormalize(b, loc, a, inv);
        Value q = emitEncodeDynamic(b, loc, x, DynamicMapLookup{b});
        b.storeByte(b.trunc(q, b.getI8Type()), codes, e);
      });
    });
  });
}

void buildDequantizeBlockwise(KernelBuilder &b, ValueRange args,
                              int64_t blocksize, Type outType) {
  Value codes = args[0], absmax = args[1], out = args[2], n = args[3];
  Value e = globalThreadIndex(b);
  b.ifThen(b.cmpi(CmpIPredicate::ult, e, n), [&](KernelBuilder &b) {
    Value q = b.zext(b.loadByte(codes, e), b.getI32Type());
    Value v = emitDequantizeValue(b, b.getLoc(), lookupDynamicMap(b, q),
                                  b.load(absmax, b.divu(e, blocksize)));
    b.store(b.castFloat(v, outType), out, e);
  });
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

MemRefType buf(Type t) { return kernelBufferType(t); }

struct Dequantize4bitLowering : OpRewritePattern<Dequantize4bitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(Dequantize4bitOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType resultType = op.getResult().getType();
    if (!resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic result shape");
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Type elt = resultType.getElementType();
    QuantType qt = op.getQuantType();
    int64_t blocksize = op.getBlocksize();
    Type u8 = IntegerType::get(getContext(), 8, IntegerType::Unsigned);
    std::string name =
        llvm::formatv("bnb_dequantize_4bit_{0}_{1}_b{2}", stringifyQuantType(qt),
                      typeTag(elt), blocksize);
    auto kernel = getOrBuildKernel(
        module, name,
        {buf(u8), buf(rewriter.getF32Type()), buf(elt),
         rewriter.getIndexType()},
        kElementwiseBlock, [&](KernelBuilder &b, ValueRange args) {
          buildDequantize4bit(b, args, qt, blocksize, elt);
        });
    int64_t n = resultType.getNumElements();
    Value packed = kernelInput(rewriter, loc, op.getPacked());
    Value absmax = kernelInput(rewriter, loc, op.getAbsmax());
    KernelOutput out = allocOutput(rewriter, loc, resultType, {});
    Value grid = hostIndex(rewriter, loc,
                           llvm::divideCeil(llvm::divideCeil(n, 2),
                                            kElementwiseBlock));
    launch(rewriter, loc, kernel, grid, {},
           {packed, absmax, out.arg, hostIndex(rewriter, loc, n)});
    rewriter.replaceOp(op, outputTensor(rewriter, loc, out.buffer));
    return success();
  }
};

/// Results of a blockwise quantization: the codes shaped `codesType` and the
/// absmax; their dynamic sizes follow from n.
SmallVector<Value> codesDynamicSizes(OpBuilder &b, Location loc,
                                     RankedTensorType type, Value count) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(i == 0 ? count : hostIndex(b, loc, 1));
  return sizes;
}

/// Launches a blockwise quantization kernel (one warp per block of the
/// flattened input; arguments: input, codes, absmax, n, number of blocks)
/// and replaces `op`'s (codes, absmax) results. `codesSizes` are the dynamic
/// sizes of the codes result.
void launchBlockQuantize(PatternRewriter &rewriter, Operation *op,
                         ::mlir::gpu::GPUFuncOp kernel, Value inputTensor,
                         Value n, Value numBlocks, ValueRange codesSizes) {
  Location loc = op->getLoc();
  auto codesType = cast<RankedTensorType>(op->getResult(0).getType());
  auto absmaxType = cast<RankedTensorType>(op->getResult(1).getType());
  Value input = kernelInput(rewriter, loc, inputTensor);
  KernelOutput codes = allocOutput(rewriter, loc, codesType, codesSizes);
  KernelOutput absmax =
      allocOutput(rewriter, loc, absmaxType,
                  codesDynamicSizes(rewriter, loc, absmaxType, numBlocks));
  launch(rewriter, loc, kernel,
         hostCeilDiv(rewriter, loc, numBlocks, kWarpsPerBlock), {},
         {input, codes.arg, absmax.arg, n, numBlocks});
  rewriter.replaceOp(op, {outputTensor(rewriter, loc, codes.buffer),
                          outputTensor(rewriter, loc, absmax.buffer)});
}

struct Quantize4bitLowering : OpRewritePattern<Quantize4bitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(Quantize4bitOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Type inElt = op.getInput().getType().getElementType();
    QuantType qt = op.getQuantType();
    int64_t blocksize = op.getBlocksize();
    Type u8 = IntegerType::get(getContext(), 8, IntegerType::Unsigned);
    Type index = rewriter.getIndexType();
    std::string name =
        llvm::formatv("bnb_quantize_4bit_{0}_{1}_b{2}", stringifyQuantType(qt),
                      typeTag(inElt), blocksize);
    auto kernel = getOrBuildKernel(
        module, name,
        {buf(inElt), buf(u8), buf(rewriter.getF32Type()), index, index},
        kWarpsPerBlock * 32, [&](KernelBuilder &b, ValueRange args) {
          buildQuantize4bit(b, args, qt, blocksize);
        });
    Value n = hostNumElements(rewriter, loc, op.getInput());
    Value numBytes = hostCeilDiv(rewriter, loc, n, 2);
    Value numBlocks = hostCeilDiv(rewriter, loc, n, blocksize);
    launchBlockQuantize(
        rewriter, op, kernel, op.getInput(), n, numBlocks,
        codesDynamicSizes(rewriter, loc, op.getPacked().getType(), numBytes));
    return success();
  }
};

struct QuantizeBlockwiseLowering : OpRewritePattern<QuantizeBlockwiseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(QuantizeBlockwiseOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Type inElt = op.getInput().getType().getElementType();
    int64_t blocksize = op.getBlocksize();
    Type u8 = IntegerType::get(getContext(), 8, IntegerType::Unsigned);
    Type index = rewriter.getIndexType();
    std::string name = llvm::formatv("bnb_quantize_blockwise_{0}_b{1}",
                                     typeTag(inElt), blocksize);
    auto kernel = getOrBuildKernel(
        module, name,
        {buf(inElt), buf(u8), buf(rewriter.getF32Type()), index, index},
        kWarpsPerBlock * 32, [&](KernelBuilder &b, ValueRange args) {
          buildQuantizeBlockwise(b, args, blocksize);
        });
    Value n = hostNumElements(rewriter, loc, op.getInput());
    Value numBlocks = hostCeilDiv(rewriter, loc, n, blocksize);
    launchBlockQuantize(rewriter, op, kernel, op.getInput(), n, numBlocks,
                        hostDynamicSizes(rewriter, loc, op.getInput()));
    return success();
  }
};

struct DequantizeBlockwiseLowering : OpRewritePattern<DequantizeBlockwiseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DequantizeBlockwiseOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Type outElt = op.getResult().getType().getElementType();
    int64_t blocksize = op.getBlocksize();
    Type u8 = IntegerType::get(getContext(), 8, IntegerType::Unsigned);
    std::string name = llvm::formatv("bnb_dequantize_blockwise_{0}_b{1}",
                                     typeTag(outElt), blocksize);
    auto kernel = getOrBuildKernel(
        module, name,
        {buf(u8), buf(rewriter.getF32Type()), buf(outElt),
         rewriter.getIndexType()},
        kElementwiseBlock, [&](KernelBuilder &b, ValueRange args) {
          buildDequantizeBlockwise(b, args, blocksize, outElt);
        });
    Value n = hostNumElements(rewriter, loc, op.getInput());
    Value codes = kernelInput(rewriter, loc, op.getInput());
    Value absmax = kernelInput(rewriter, loc, op.getAbsmax());
    KernelOutput out =
        allocOutput(rewriter, loc, op.getResult().getType(),
                    hostDynamicSizes(rewriter, loc, op.getInput()));
    launch(rewriter, loc, kernel,
           hostCeilDiv(rewriter, loc, n, kElementwiseBlock), {},
           {codes, absmax, out.arg, n});
    rewriter.replaceOp(op, outputTensor(rewriter, loc, out.buffer));
    return success();
  }
};

} // namespace

void mlir::bnb::gpu::populateBlockwisePatterns(RewritePatternSet &patterns,
                                               const GPUTarget &) {
  patterns.add<Dequantize4bitLowering, Quantize4bitLowering,
               QuantizeBlockwiseLowering, DequantizeBlockwiseLowering>(
      patterns.getContext());
}
