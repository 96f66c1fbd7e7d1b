//===- LinearInt8.cpp - bnb.linear_int8 to fused GPU kernels --------------===//
//
// LLM.int8() as three to four launches:
//   1. row-wise quantization of x (cast to f16) with outlier detection into
//      a column bit mask (threshold > 0);
//   2. compaction of the mask into an ascending column list and its length;
//   3. the int8 tensor-core GEMM whose epilogue dequantizes, adds the bias,
//      removes the outlier columns from the int8 product and adds their f16
//      part;
// plus, for a float weight (has_fp16_weight), its row-wise quantization.
// No full-size second GEMM and no host round trip: the outlier count stays
// on the device.
//
//===----------------------------------------------------------------------===//

#include "HostUtils.h"
#include "Int8Kernels.h"

#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;

namespace {

/// Batches up to this use the small GEMM tile.
constexpr int64_t kSmallBatch = 64;

struct LinearInt8Lowering : OpRewritePattern<LinearInt8Op> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearInt8Op op,
                                PatternRewriter &rewriter) const override {
    if (op.getConv1d())
      return rewriter.notifyMatchFailure(op, "conv1d float weight");
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    RankedTensorType inputType = op.getInput().getType();
    RankedTensorType resultType = op.getResult().getType();
    Type elt = inputType.getElementType();
    Type i8 = rewriter.getI8Type(), i32 = rewriter.getI32Type(),
         f32 = rewriter.getF32Type();
    int64_t n = op.getOutFeatures(), k = op.getInFeatures();
    bool outliers = !op.getThreshold().isZero();

    Value m = hostLeadingRows(rewriter, loc, op.getInput());
    Value nIdx = hostIndex(rewriter, loc, n), kIdx = hostIndex(rewriter, loc, k);
    Value x = kernelInput(rewriter, loc, op.getInput());
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < resultType.getRank(); ++i)
      if (resultType.isDynamicDim(i))
        sizes.push_back(i + 1 == resultType.getRank()
                            ? nIdx
                            : tensor::DimOp::create(rewriter, loc,
                                                    op.getInput(), i)
                                  .getResult());
    KernelOutput out = allocOutput(rewriter, loc, resultType, sizes);

    // The weight: int8 with its SCB, or quantized here from 16 bits.
    Value cb, scb;
    if (op.isQuantized()) {
      cb = kernelInput(rewriter, loc, op.getWeight());
      scb = kernelInput(rewriter, loc, op.getScb());
    } else {
      Type weightType =
          cast<RankedTensorType>(op.getWeight().getType()).getElementType();
      cb = allocScratch(rewriter, loc, i8, hostIndex(rewriter, loc, n * k));
      scb = allocScratch(rewriter, loc, f32, nIdx);
      launch(rewriter, loc, getRowQuantKernel(module, weightType, false), nIdx,
             {}, {kernelInput(rewriter, loc, op.getWeight()), cb, scb, nIdx,
                  kIdx});
    }

    Value total = arith::MulIOp::create(rewriter, loc, m, kIdx);
    Value ca = allocScratch(rewriter, loc, i8, total);
    Value sca = allocScratch(rewriter, loc, f32, m);
    Value list, count;
    std::optional<int64_t> staticM;
    if (inputType.hasStaticShape())
      staticM = inputType.getNumElements() / k;

    auto emit = [&](OpBuilder &b) {
      SmallVector<Value> quantArgs = {x, ca, sca};
      if (outliers) {
        Value words = hostIndex(b, loc, llvm::divideCeil(k, 32));
        Value flags = allocScratch(b, loc, i32, words);
        launch(b, loc, getZeroFillKernel(module),
               hostIndex(b, loc, llvm::divideCeil(llvm::divideCeil(k, 32),
                                                  kElementwiseThreads)),
               {}, {flags, words});
        quantArgs.push_back(flags);
        quantArgs.push_back(arith::ConstantOp::create(
            b, loc, b.getF32FloatAttr(op.getThreshold().convertToFloat())));
        quantArgs.append({m, kIdx});
        launch(b, loc, getRowQuantKernel(module, elt, true), m, {}, quantArgs);
        list = allocScratch(b, loc, i32, kIdx);
        count = allocScratch(b, loc, i32, hostIndex(b, loc, 1));
        launch(b, loc, getCompactKernel(module, i32), hostIndex(b, loc, 1), {},
               {flags, list, count, kIdx});
      } else {
        quantArgs.append({m, kIdx});
        launch(b, loc, getRowQuantKernel(module, elt, false), m, {}, quantArgs);
      }

      Int8GemmConfig config;
      config.epilogue = Int8Epilogue::Dequantize;
      config.outputType = elt;
      if (op.getBias())
        config.biasType =
            cast<RankedTensorType>(op.getBias().getType()).getElementType();
      config.outliers = outliers;
      if (staticM && *staticM <= kSmallBatch) {
        config.tileM = 32;
        config.tileN = 64;
        config.warpsM = 2;
        config.warpsN = 2;
      }
      SmallVector<Value> args = {ca, cb, out.arg, m, nIdx, kIdx, sca, scb};
      if (op.getBias())
        args.push_back(kernelInput(b, loc, op.getBias()));
      if (outliers)
        args.append({x, list, count});
      if (k % kInt8TileK == 0) {
        launch(b, loc, getInt8GemmKernel(module, config),
               hostIndex(b, loc, llvm::divideCeil(n, config.tileN)),
               hostCeilDiv(b, loc, m, config.tileM), args);
        return;
      }
      Value outputs = arith::MulIOp::create(b, loc, m, nIdx);
      launch(b, loc, getInt8GenericKernel(module, config),
             hostCeilDiv(b, loc, outputs, kElementwiseThreads), {}, args);
    };
    if (staticM) {
      if (*staticM > 0)
        emit(rewriter);
    } else {
      Value nonEmpty = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::ne, m, hostIndex(rewriter, loc, 0));
      scf::IfOp::create(rewriter, loc, nonEmpty,
                        [&](OpBuilder &b, Location nloc) {
                          emit(b);
                          scf::YieldOp::create(b, nloc);
                        });
    }
    rewriter.replaceOp(op, outputTensor(rewriter, loc, out.buffer));
    return success();
  }
};

} // namespace

void mlir::bnb::gpu::populateLinearInt8Patterns(RewritePatternSet &patterns,
                                                const GPUTarget &) {
  patterns.add<LinearInt8Lowering>(patterns.getContext());
}
