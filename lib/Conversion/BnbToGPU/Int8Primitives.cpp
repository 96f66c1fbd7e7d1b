//===- Int8Primitives.cpp - LLM.int8() quantization kernels ---------------===//
//
// Row-wise quantization with outlier detection (one block per row: absmax
// by warp shuffles and shared memory, then QuantCodegen's 127 * (1/absmax)
// and round-half-even), outlier column compaction (one block: popcounts and a
// shuffle prefix sum), and the elementwise kernels and patterns of the
// LLM.int8() primitive ops.
//
//===----------------------------------------------------------------------===//

#include "HostUtils.h"
#include "Int8Kernels.h"

#include "bnb/Conversion/QuantCodegen.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;
using arith::CmpFPredicate;
using arith::CmpIPredicate;

namespace {

/// |f16(x)| as f32, the value LLM.int8() quantizes and tests for outliers.
Value absF16(KernelBuilder &b, Value x) {
  return b.fabs(b.castFloat(b.castFloat(x, b.getF16Type()), b.getF32Type()));
}

/// Sets bit `col % 32` of word `col / 32` of `flags`.
void markColumn(KernelBuilder &b, Value flags, Value col) {
  Value col32 = b.toI32(col);
  Value bit = arith::ShLIOp::create(b, b.i32(1), b.andi(col32, 31));
  b.atomicOr(bit, flags, b.shru(col32, 5));
}

/// True when bit `col` of the mask `flags` is set.
Value isMarked(KernelBuilder &b, Value flags, Value col) {
  Value col32 = b.toI32(col);
  Value word = b.load(flags, b.toIndex(b.shru(col32, 5)));
  Value bit = b.andi(b.shru(word, b.andi(col32, 31)), 1);
  return b.cmpi(CmpIPredicate::ne, bit, 0);
}

Value globalIndex(KernelBuilder &b, int64_t threads) {
  return b.add(b.mul(b.blockId(), threads), b.threadId());
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

void buildRowQuant(KernelBuilder &b, ValueRange args, bool outliers) {
  unsigned i = 0;
  Value x = args[i++], q = args[i++], stats = args[i++];
  Value flags, threshold;
  if (outliers) {
    flags = args[i++];
    threshold = args[i++];
  }
  Value numCols = args[i + 1];
  Value partial = args.back();
  Type f32 = b.getF32Type();
  Value row = b.blockId();
  Value base = b.mul(row, numCols);
  Value tid = b.threadId(), step = b.idx(kRowQuantThreads);

  // bitsandbytes' kernel leaves `absval < T(threshold)` out of the row
  // absmax, compared in half precision, while an outlier column and a zeroed
  // element are `|a| >= threshold` in f32 (they differ for a threshold that
  // f16 cannot hold, such as 6.103).
  Value thresholdHalf;
  if (outliers)
    thresholdHalf = b.castFloat(b.castFloat(threshold, b.getF16Type()), f32);
  Value local = b.forLoop(
      tid, numCols, step, ValueRange{b.f32(0.0f)},
      [&](KernelBuilder &b, Value j, ValueRange acc) -> SmallVector<Value> {
        Value a = absF16(b, b.load(x, b.add(base, j)));
        if (!outliers)
          return {b.fmax(acc[0], a)};
        b.ifThen(b.cmpf(CmpFPredicate::OGE, a, threshold),
                 [&](KernelBuilder &b) { markColumn(b, flags, j); });
        Value excluded = b.cmpf(CmpFPredicate::OGE, a, thresholdHalf);
        return {b.select(excluded, acc[0], b.fmax(acc[0], a))};
      })[0];
  Value warpMax = b.warpMax(local);
  Value lane = b.laneId(), warp = b.warpId();
  b.ifThen(b.cmpi(CmpIPredicate::eq, lane, 0), [&](KernelBuilder &b) {
    b.store(warpMax, partial, b.toIndex(warp));
  });
  b.barrier();
  Value rowMax = b.load(partial, b.idx(0));
  for (int64_t w = 1; w < kRowQuantThreads / 32; ++w)
    rowMax = b.fmax(rowMax, b.load(partial, b.idx(w)));
  b.ifThen(b.cmpi(CmpIPredicate::eq, tid, b.idx(0)),
           [&](KernelBuilder &b) { b.store(rowMax, stats, row); });
  // A zero row gives the scale inf, then 0 * inf = NaN, which quantizes to 0
  // as on NVIDIA hardware.
  Location loc = b.getLoc();
  Value scale = codegen::emitInt8RowScale(b, loc, rowMax);
  b.forLoop(tid, numCols, step, [&](KernelBuilder &b, Value j) {
    Value e = b.add(base, j);
    Value v = b.castFloat(b.castFloat(b.load(x, e), b.getF16Type()), f32);
    Value qi = codegen::emitRoundToInt8(b, loc, b.fmul(v, scale));
    if (outliers)
      qi = b.select(b.cmpf(CmpFPredicate::OGE, b.fabs(v), threshold),
                    b.intConst(b.getI8Type(), 0), qi);
    b.store(qi, q, e);
  });
}

void buildCompact(KernelBuilder &b, ValueRange args, Type listType) {
  Value flags = args[0], list = args[1], count = args[2], numCols = args[3];
  Value totals = args[4];
  Value numWords = b.toI32(b.divu(b.add(numCols, 31), 32));
  Value perThread = b.divu(b.add(numWords, kCompactThreads - 1),
                           kCompactThreads);
  Value tid = b.toI32(b.threadId());
  Value first = b.mul(tid, perThread);
  auto wordAt = [&](KernelBuilder &b, Value w) {
    return b.ifThenElse(
        b.cmpi(CmpIPredicate::ult, w, numWords), b.getI32Type(),
        [&](KernelBuilder &b) -> SmallVector<Value> {
          return {b.load(flags, b.toIndex(w))};
        },
        [&](KernelBuilder &b) -> SmallVector<Value> { return {b.i32(0)}; })[0];
  };
  Value mine = b.forLoop(
      b.idx(0), b.toIndex(perThread), b.idx(1), ValueRange{b.i32(0)},
      [&](KernelBuilder &b, Value i, ValueRange acc) -> SmallVector<Value> {
        Value w = wordAt(b, b.add(first, b.toI32(i)));
        return {b.add(acc[0], b.popcount(w))};
      })[0];
  // Block-wide exclusive prefix sum of `mine`.
  Value lane = b.laneId(), warp = b.warpId();
  Value inclusive = b.warpInclusiveScan(mine);
  b.ifThen(b.cmpi(CmpIPredicate::eq, lane, 31), [&](KernelBuilder &b) {
    b.store(inclusive, totals, b.toIndex(warp));
  });
  b.barrier();
  b.ifThen(b.cmpi(CmpIPredicate::eq, warp, 0), [&](KernelBuilder &b) {
    Value scanned = b.warpInclusiveScan(b.load(totals, b.toIndex(lane)));
    b.store(scanned, totals, b.toIndex(lane));
  });
  b.barrier();
  Value warpBase = b.ifThenElse(
      b.cmpi(CmpIPredicate::eq, warp, 0), b.getI32Type(),
      [&](KernelBuilder &b) -> SmallVector<Value> { return {b.i32(0)}; },
      [&](KernelBuilder &b) -> SmallVector<Value> {
        return {b.load(totals, b.toIndex(b.sub(warp, b.i32(1))))};
      })[0];
  Value offset = b.sub(b.add(warpBase, inclusive), mine);
  b.forLoop(b.idx(0), b.toIndex(perThread), b.idx(1),
            ValueRange{offset},
            [&](KernelBuilder &b, Value i, ValueRange acc) -> SmallVector<Value> {
              Value w = b.add(first, b.toI32(i));
              Value word = wordAt(b, w);
              return b.forLoop(
                  b.idx(0), b.idx(32), b.idx(1), acc,
                  [&](KernelBuilder &b, Value bit,
                      ValueRange pos) -> SmallVector<Value> {
                    Value bit32 = b.toI32(bit);
                    Value set = b.andi(b.shru(word, bit32), 1);
                    b.ifThen(b.cmpi(CmpIPredicate::ne, set, 0),
                             [&](KernelBuilder &b) {
                      Value col = b.add(b.mul(w, 32), bit32);
                      Value v = listType.isInteger(32) ? col
                                                       : b.zext(col, listType);
                      b.store(v, list, b.toIndex(pos[0]));
                    });
                    return {b.add(pos[0], set)};
                  });
            });
  b.ifThen(b.cmpi(CmpIPredicate::eq, tid, 0), [&](KernelBuilder &b) {
    b.store(b.load(totals, b.idx(31)), count, b.idx(0));
  });
}

void buildZeroFill(KernelBuilder &b, ValueRange args) {
  Value e = globalIndex(b, kElementwiseThreads);
  b.ifThen(b.cmpi(CmpIPredicate::ult, e, args[1]),
           [&](KernelBuilder &b) { b.store(b.i32(0), args[0], e); });
}

/// q[m, col] = 0 for every marked column. Args: q, flags, M * K, K.
void buildZeroColumns(KernelBuilder &b, ValueRange args) {
  Value q = args[0], flags = args[1], total = args[2], numCols = args[3];
  Value e = globalIndex(b, kElementwiseThreads);
  b.ifThen(b.cmpi(CmpIPredicate::ult, e, total), [&](KernelBuilder &b) {
    Value col = arith::RemUIOp::create(b, e, numCols);
    b.ifThen(isMarked(b, flags, col), [&](KernelBuilder &b) {
      b.store(b.intConst(b.getI8Type(), 0), q, e);
    });
  });
}

/// Marks the columns holding |f16(x)| >= threshold. Args: x, flags,
/// threshold, M * K, K.
void buildOutlierFlags(KernelBuilder &b, ValueRange args) {
  Value x = args[0], flags = args[1], threshold = args[2], total = args[3],
        numCols = args[4];
  Value e = globalIndex(b, kElementwiseThreads);
  b.ifThen(b.cmpi(CmpIPredicate::ult, e, total), [&](KernelBuilder &b) {
    Value a = absF16(b, b.load(x, e));
    b.ifThen(b.cmpf(CmpFPredicate::OGE, a, threshold), [&](KernelBuilder &b) {
      markColumn(b, flags, arith::RemUIOp::create(b, e, numCols));
    });
  });
}

/// columns[j] = list[j], outliers[m, j] = x[m, list[j]] for j < count;
/// zeros beyond. Args: x, list (i64), count (i32), columns (i64), outliers,
/// M * C, C, K.
void buildOutlierGather(KernelBuilder &b, ValueRange args) {
  Value x = args[0], list = args[1], count = args[2], columns = args[3],
        outliers = args[4], total = args[5], capacity = args[6],
        numCols = args[7];
  Value e = globalIndex(b, kElementwiseThreads);
  Type elt = cast<MemRefType>(x.getType()).getElementType();
  b.ifThen(b.cmpi(CmpIPredicate::ult, e, total), [&](KernelBuilder &b) {
    Value row = arith::DivUIOp::create(b, e, capacity);
    Value j = arith::RemUIOp::create(b, e, capacity);
    Value n = b.toIndex(b.load(count, b.idx(0)));
    Value present = b.cmpi(CmpIPredicate::ult, j, n);
    SmallVector<Value> vals = b.ifThenElse(
        present, {b.getI64Type(), elt},
        [&](KernelBuilder &b) -> SmallVector<Value> {
          Value col = b.load(list, j);
          Value v = b.load(x, b.add(b.mul(row, numCols), b.toIndex(col)));
          return {col, v};
        },
        [&](KernelBuilder &b) -> SmallVector<Value> {
          return {b.intConst(b.getI64Type(), 0), b.floatConst(elt, 0.0)};
        });
    b.store(vals[1], outliers, e);
    b.ifThen(b.cmpi(CmpIPredicate::eq, row, b.idx(0)),
             [&](KernelBuilder &b) { b.store(vals[0], columns, j); });
  });
}

/// out[m, n] = dequantize(c[m, n]). Args: c, rows, cols, [bias], out,
/// M * N, N.
void buildDequantizeInt8(KernelBuilder &b, ValueRange args, bool hasBias) {
  unsigned i = 0;
  Value c = args[i++], rows = args[i++], cols = args[i++];
  Value bias = hasBias ? args[i++] : Value();
  Value out = args[i++], total = args[i++], numCols = args[i++];
  Value e = globalIndex(b, kElementwiseThreads);
  b.ifThen(b.cmpi(CmpIPredicate::ult, e, total), [&](KernelBuilder &b) {
    Value row = arith::DivUIOp::create(b, e, numCols);
    Value col = arith::RemUIOp::create(b, e, numCols);
    Value biasValue =
        bias ? b.castFloat(b.load(bias, col), b.getF32Type()) : Value();
    Value acc = b.load(c, e);
    Value rowStat = b.load(rows, row);
    Value colStat = b.load(cols, col);
    b.store(codegen::emitDequantizeInt8(b, b.getLoc(), acc, rowStat, colStat,
                                        biasValue),
            out, e);
  });
}

} // namespace

//===----------------------------------------------------------------------===//
// Kernel getters
//===----------------------------------------------------------------------===//

::mlir::gpu::GPUFuncOp mlir::bnb::gpu::getRowQuantKernel(ModuleOp module,
                                                         Type inputType,
                                                         bool outliers) {
  MLIRContext *ctx = module.getContext();
  Builder b(ctx);
  SmallVector<Type> types = {kernelBufferType(inputType),
                             kernelBufferType(b.getI8Type()),
                             kernelBufferType(b.getF32Type())};
  if (outliers) {
    types.push_back(kernelBufferType(b.getI32Type()));
    types.push_back(b.getF32Type());
  }
  types.append({b.getIndexType(), b.getIndexType()});
  std::string name = "bnb_rowquant_" + typeTag(inputType) +
                     (outliers ? "_outliers" : "");
  return getOrBuildKernel(
      module, name, types, kRowQuantThreads,
      [&](KernelBuilder &kb, ValueRange args) {
        buildRowQuant(kb, args, outliers);
      },
      {sharedBufferType({kRowQuantThreads / 32}, b.getF32Type())});
}

::mlir::gpu::GPUFuncOp mlir::bnb::gpu::getCompactKernel(ModuleOp module,
                                                        Type listType) {
  MLIRContext *ctx = module.getContext();
  Builder b(ctx);
  return getOrBuildKernel(
      module, "bnb_compact_columns_" + std::to_string(listType.getIntOrFloatBitWidth()),
      {kernelBufferType(b.getI32Type()), kernelBufferType(listType),
       kernelBufferType(b.getI32Type()), b.getIndexType()},
      kCompactThreads,
      [&](KernelBuilder &kb, ValueRange args) {
        buildCompact(kb, args, listType);
      },
      {sharedBufferType({kCompactThreads / 32}, b.getI32Type())});
}

::mlir::gpu::GPUFuncOp mlir::bnb::gpu::getZeroFillKernel(ModuleOp module) {
  Builder b(module.getContext());
  return getOrBuildKernel(module, "bnb_zero_fill_i32",
                          {kernelBufferType(b.getI32Type()), b.getIndexType()},
                          kElementwiseThreads, buildZeroFill);
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

namespace {

/// A zeroed bit mask of ceil(K / 32) words.
Value zeroedColumnMask(OpBuilder &b, Location loc, ModuleOp module,
                       Value numCols) {
  Value words = hostCeilDiv(b, loc, numCols, 32);
  Value flags = allocScratch(b, loc, b.getI32Type(), words);
  launch(b, loc, getZeroFillKernel(module),
         hostCeilDiv(b, loc, words, kElementwiseThreads), {}, {flags, words});
  return flags;
}

Value dimOf(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (!type.isDynamicDim(i))
    return hostIndex(b, loc, type.getDimSize(i));
  return tensor::DimOp::create(b, loc, tensor, i);
}

/// Runs `fn` only when `count` is not zero (a zero-block grid is invalid).
void ifNonZero(OpBuilder &b, Location loc, Value count,
               llvm::function_ref<void(OpBuilder &)> fn) {
  Value nonZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                        count, hostIndex(b, loc, 0));
  scf::IfOp::create(b, loc, nonZero, [&](OpBuilder &nb, Location nloc) {
    fn(nb);
    scf::YieldOp::create(nb, nloc);
  });
}

struct QuantizeRowwiseLowering : OpRewritePattern<QuantizeRowwiseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(QuantizeRowwiseOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    bool outliers = !op.getThreshold().isZero();
    Value rows = dimOf(rewriter, loc, op.getInput(), 0);
    Value cols = dimOf(rewriter, loc, op.getInput(), 1);
    Value x = kernelInput(rewriter, loc, op.getInput());
    KernelOutput q = allocOutput(rewriter, loc, op.getResult().getType(),
                                 hostDynamicSizes(rewriter, loc, op.getInput()));
    SmallVector<Value> statSizes;
    if (op.getStats().getType().isDynamicDim(0))
      statSizes.push_back(rows);
    KernelOutput stats =
        allocOutput(rewriter, loc, op.getStats().getType(), statSizes);
    Type inputType = op.getInput().getType().getElementType();
    SmallVector<Value> args = {x, q.arg, stats.arg};
    Value flags;
    if (outliers) {
      flags = zeroedColumnMask(rewriter, loc, module, cols);
      args.push_back(flags);
      args.push_back(arith::ConstantOp::create(
          rewriter, loc, rewriter.getF32FloatAttr(
                             op.getThreshold().convertToFloat())));
    }
    args.append({rows, cols});
    ifNonZero(rewriter, loc, rows, [&](OpBuilder &b) {
      launch(b, loc, getRowQuantKernel(module, inputType, outliers), rows, {},
             args);
      if (!outliers)
        return;
      // bitsandbytes zeroes whole outlier columns of the int8 stream.
      Value total = arith::MulIOp::create(b, loc, rows, cols);
      auto kernel = getOrBuildKernel(
          module, "bnb_zero_columns",
          {kernelBufferType(b.getI8Type()), kernelBufferType(b.getI32Type()),
           b.getIndexType(), b.getIndexType()},
          kElementwiseThreads, buildZeroColumns);
      launch(b, loc, kernel, hostCeilDiv(b, loc, total, kElementwiseThreads),
             {}, {q.arg, flags, total, cols});
    });
    rewriter.replaceOp(op, {outputTensor(rewriter, loc, q.buffer),
                            outputTensor(rewriter, loc, stats.buffer)});
    return success();
  }
};

struct OutlierSplitLowering : OpRewritePattern<OutlierSplitOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OutlierSplitOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Type elt = op.getInput().getType().getElementType();
    Type i32 = rewriter.getI32Type(), i64 = rewriter.getI64Type();
    Type index = rewriter.getIndexType();
    Value rows = dimOf(rewriter, loc, op.getInput(), 0);
    Value cols = dimOf(rewriter, loc, op.getInput(), 1);
    Value total = arith::MulIOp::create(rewriter, loc, rows, cols);
    Value x = kernelInput(rewriter, loc, op.getInput());
    Value flags = zeroedColumnMask(rewriter, loc, module, cols);
    Value threshold = arith::ConstantOp::create(
        rewriter, loc,
        rewriter.getF32FloatAttr(op.getThreshold().convertToFloat()));
    ifNonZero(rewriter, loc, total, [&](OpBuilder &b) {
      auto kernel = getOrBuildKernel(
          module, "bnb_outlier_flags_" + typeTag(elt),
          {kernelBufferType(elt), kernelBufferType(i32), b.getF32Type(), index,
           index},
          kElementwiseThreads, buildOutlierFlags);
      launch(b, loc, kernel, hostCeilDiv(b, loc, total, kElementwiseThreads),
             {}, {x, flags, threshold, total, cols});
    });
    Value list = allocScratch(rewriter, loc, i64, cols);
    Value count = allocScratch(rewriter, loc, i32, hostIndex(rewriter, loc, 1));
    launch(rewriter, loc, getCompactKernel(module, i64),
           hostIndex(rewriter, loc, 1), {}, {flags, list, count, cols});

    // The number of columns decides the result shapes: read it back.
    RankedTensorType columnsType = op.getColumns().getType();
    Value capacity;
    if (columnsType.isDynamicDim(0)) {
      auto hostType = MemRefType::get({1}, i32);
      Value host = memref::AllocaOp::create(rewriter, loc, hostType);
      auto dynCount = memref::CastOp::create(rewriter, loc, hostType, count);
      ::mlir::gpu::MemcpyOp::create(rewriter, loc, Type(), ValueRange{}, host,
                                    dynCount);
      ::mlir::gpu::WaitOp::create(rewriter, loc, Type(), ValueRange{});
      Value n = memref::LoadOp::create(rewriter, loc, host,
                                       ValueRange{hostIndex(rewriter, loc, 0)});
      capacity = arith::IndexCastUIOp::create(rewriter, loc, index, n);
    } else {
      capacity = hostIndex(rewriter, loc, columnsType.getDimSize(0));
    }
    KernelOutput columns = allocOutput(
        rewriter, loc, columnsType,
        columnsType.isDynamicDim(0) ? SmallVector<Value>{capacity}
                                    : SmallVector<Value>{});
    RankedTensorType outliersType = op.getOutliers().getType();
    SmallVector<Value> sizes;
    if (outliersType.isDynamicDim(0))
      sizes.push_back(rows);
    if (outliersType.isDynamicDim(1))
      sizes.push_back(capacity);
    KernelOutput outliers = allocOutput(rewriter, loc, outliersType, sizes);
    Value gathered = arith::MulIOp::create(rewriter, loc, rows, capacity);
    ifNonZero(rewriter, loc, gathered, [&](OpBuilder &b) {
      auto kernel = getOrBuildKernel(
          module, "bnb_outlier_gather_" + typeTag(elt),
          {kernelBufferType(elt), kernelBufferType(i64), kernelBufferType(i32),
           kernelBufferType(i64), kernelBufferType(elt), index, index, index},
          kElementwiseThreads, buildOutlierGather);
      launch(b, loc, kernel,
             hostCeilDiv(b, loc, gathered, kElementwiseThreads), {},
             {x, list, count, columns.arg, outliers.arg, gathered, capacity,
              cols});
    });
    rewriter.replaceOp(op, {outputTensor(rewriter, loc, columns.buffer),
                            outputTensor(rewriter, loc, outliers.buffer)});
    return success();
  }
};

struct DequantizeInt8Lowering : OpRewritePattern<DequantizeInt8Op> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DequantizeInt8Op op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Type f32 = rewriter.getF32Type(), f16 = rewriter.getF16Type();
    Type index = rewriter.getIndexType();
    bool hasBias = op.getBias() != nullptr;
    SmallVector<Type> types = {kernelBufferType(rewriter.getI32Type()),
                               kernelBufferType(f32), kernelBufferType(f32)};
    if (hasBias)
      types.push_back(kernelBufferType(f16));
    types.append({kernelBufferType(f16), index, index});
    auto kernel = getOrBuildKernel(
        module, hasBias ? "bnb_dequantize_int8_bias" : "bnb_dequantize_int8",
        types, kElementwiseThreads, [&](KernelBuilder &b, ValueRange args) {
          buildDequantizeInt8(b, args, hasBias);
        });
    Value rows = dimOf(rewriter, loc, op.getInput(), 0);
    Value cols = dimOf(rewriter, loc, op.getInput(), 1);
    Value total = arith::MulIOp::create(rewriter, loc, rows, cols);
    SmallVector<Value> args = {kernelInput(rewriter, loc, op.getInput()),
                               kernelInput(rewriter, loc, op.getRowStats()),
                               kernelInput(rewriter, loc, op.getColStats())};
    if (hasBias)
      args.push_back(kernelInput(rewriter, loc, op.getBias()));
    KernelOutput out = allocOutput(rewriter, loc, op.getResult().getType(),
                                   hostDynamicSizes(rewriter, loc, op.getInput()));
    args.append({out.arg, total, cols});
    ifNonZero(rewriter, loc, total, [&](OpBuilder &b) {
      launch(b, loc, kernel, hostCeilDiv(b, loc, total, kElementwiseThreads),
             {}, args);
    });
    rewriter.replaceOp(op, outputTensor(rewriter, loc, out.buffer));
    return success();
  }
};

struct Int8MatmulLowering : OpRewritePattern<Int8MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(Int8MatmulOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Value rows = dimOf(rewriter, loc, op.getLhs(), 0);
    Value cols = dimOf(rewriter, loc, op.getRhs(), 0);
    Value depth = dimOf(rewriter, loc, op.getLhs(), 1);
    SmallVector<Value> sizes;
    RankedTensorType resultType = op.getResult().getType();
    if (resultType.isDynamicDim(0))
      sizes.push_back(rows);
    if (resultType.isDynamicDim(1))
      sizes.push_back(cols);
    KernelOutput out = allocOutput(rewriter, loc, resultType, sizes);
    SmallVector<Value> args = {kernelInput(rewriter, loc, op.getLhs()),
                               kernelInput(rewriter, loc, op.getRhs()), out.arg,
                               rows, cols, depth};
    Int8GemmConfig config;
    config.epilogue = Int8Epilogue::Int32;
    int64_t k = op.getLhs().getType().getDimSize(1);
    Value total = arith::MulIOp::create(rewriter, loc, rows, cols);
    ifNonZero(rewriter, loc, total, [&](OpBuilder &b) {
      if (!ShapedType::isDynamic(k) && k % kInt8TileK == 0) {
        launch(b, loc, getInt8GemmKernel(module, config),
               hostCeilDiv(b, loc, cols, config.tileN),
               hostCeilDiv(b, loc, rows, config.tileM), args);
        return;
      }
      launch(b, loc, getInt8GenericKernel(module, config),
             hostCeilDiv(b, loc, total, kElementwiseThreads), {}, args);
    });
    rewriter.replaceOp(op, outputTensor(rewriter, loc, out.buffer));
    return success();
  }
};

} // namespace

void mlir::bnb::gpu::populateInt8PrimitivePatterns(RewritePatternSet &patterns,
                                                   const GPUTarget &) {
  patterns.add<QuantizeRowwiseLowering, OutlierSplitLowering,
               DequantizeInt8Lowering, Int8MatmulLowering>(
      patterns.getContext());
}
