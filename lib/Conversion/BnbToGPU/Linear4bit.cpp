//===- Linear4bit.cpp - bnb.linear_4bit to fused GPU kernels --------------===//
//
// Chooses the kernel of a 4-bit linear layer by batch size, compute dtype
// and shape, and emits the host code that launches it:
//   f16/bf16, K % 32 == 0: tensor-core GEMV for M <= 16, tensor-core GEMM
//     (K % 64 == 0) above;
//   f32, K % 32 == 0: bitsandbytes' SIMT GEMV, batched over blocks of rows;
//   anything else: the generic kernel.
// A dynamic batch size selects among them at run time.
//
//===----------------------------------------------------------------------===//

#include "HostUtils.h"
#include "Linear4bitKernels.h"

#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::gpu;

namespace {

/// Batch sizes up to this use the GEMV kernels.
constexpr int64_t kMaxGemvRows = 16;
/// Rows of x per block of the SIMT GEMV for larger or unknown batches.
constexpr int64_t kSimtRowsPerBlock = 8;

/// Emits `thenFn` when `cond` holds, `elseFn` otherwise.
void emitIf(OpBuilder &b, Location loc, Value cond,
            llvm::function_ref<void(OpBuilder &)> thenFn,
            llvm::function_ref<void(OpBuilder &)> elseFn) {
  scf::IfOp::create(
      b, loc, cond,
      [&](OpBuilder &nb, Location nloc) {
        thenFn(nb);
        scf::YieldOp::create(nb, nloc);
      },
      [&](OpBuilder &nb, Location nloc) {
        elseFn(nb);
        scf::YieldOp::create(nb, nloc);
      });
}

struct Linear4bitLowering : OpRewritePattern<Linear4bitOp> {
  Linear4bitLowering(MLIRContext *ctx, const GPUTarget &target)
      : OpRewritePattern(ctx), target(target) {}

  LogicalResult matchAndRewrite(Linear4bitOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.isQuantized())
      return rewriter.notifyMatchFailure(op, "weight is not quantized");
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    RankedTensorType inputType = op.getInput().getType();
    RankedTensorType resultType = op.getResult().getType();

    Linear4bitConfig config;
    config.quantType = op.getQuantType();
    config.n = op.getOutFeatures();
    config.k = op.getInFeatures();
    config.blocksize = op.getBlocksize();
    config.computeType = op.getComputeDtype();
    config.inputType = inputType.getElementType();
    if (op.getBias())
      config.biasType =
          cast<RankedTensorType>(op.getBias().getType()).getElementType();
    config.nested = op.isNested();

    // Host operands.
    SmallVector<Value> args = {kernelInput(rewriter, loc, op.getInput()),
                               kernelInput(rewriter, loc, op.getWeight()),
                               kernelInput(rewriter, loc, op.getAbsmax())};
    if (config.nested) {
      args.push_back(kernelInput(rewriter, loc, op.getNestedAbsmax()));
      args.push_back(arith::ConstantOp::create(
          rewriter, loc, rewriter.getF32FloatAttr(
                             op.getNestedOffset()->convertToFloat())));
    }
    if (op.getBias())
      args.push_back(kernelInput(rewriter, loc, op.getBias()));
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < resultType.getRank(); ++i) {
      if (!resultType.isDynamicDim(i))
        continue;
      if (i + 1 == resultType.getRank())
        sizes.push_back(hostIndex(rewriter, loc, config.n));
      else
        sizes.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), i));
    }
    KernelOutput out = allocOutput(rewriter, loc, resultType, sizes);
    args.push_back(out.arg);
    Value m = hostLeadingRows(rewriter, loc, op.getInput());
    args.push_back(m);

    std::optional<int64_t> staticM;
    if (inputType.hasStaticShape())
      staticM = inputType.getNumElements() / inputType.getShape().back();
    if (staticM != 0)
      emitLaunches(rewriter, loc, module, config, args, m, staticM);
    rewriter.replaceOp(op, outputTensor(rewriter, loc, out.buffer));
    return success();
  }

private:
  void emitLaunches(OpBuilder &b, Location loc, ModuleOp module,
                    const Linear4bitConfig &config, ValueRange args, Value m,
                    std::optional<int64_t> staticM) const {
    // An empty batch launches nothing (a grid of zero blocks is invalid and
    // the GEMV reads row 0 of x).
    if (staticM)
      return emitDispatch(b, loc, module, config, args, m, staticM);
    Value nonEmpty = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, m,
                                           hostIndex(b, loc, 0));
    scf::IfOp::create(b, loc, nonEmpty, [&](OpBuilder &nb, Location nloc) {
      emitDispatch(nb, loc, module, config, args, m, staticM);
      scf::YieldOp::create(nb, nloc);
    });
  }

  void emitDispatch(OpBuilder &b, Location loc, ModuleOp module,
                    const Linear4bitConfig &config, ValueRange args, Value m,
                    std::optional<int64_t> staticM) const {
    auto launchGeneric = [&](OpBuilder &b) {
      auto kernel = getLinear4bitGenericKernel(module, config);
      Value total = arith::MulIOp::create(b, loc, m,
                                          hostIndex(b, loc, config.n));
      launch(b, loc, kernel, hostCeilDiv(b, loc, total, kGenericThreads), {},
             args);
    };
    if (config.k % 32 != 0)
      return launchGeneric(b);
    if (config.computeType.isF32()) {
      int64_t rows = staticM && *staticM <= kSimtRowsPerBlock
                         ? *staticM
                         : kSimtRowsPerBlock;
      auto kernel = getGemv4bitSimtKernel(module, config, rows);
      launch(b, loc, kernel,
             hostIndex(b, loc, llvm::divideCeil(config.n, kGemvSimtOutputs)),
             hostCeilDiv(b, loc, m, rows), args);
      return;
    }
    auto launchGemv = [&](OpBuilder &b, int64_t tiles) {
      auto kernel = getGemv4bitMmaKernel(module, config, tiles);
      launch(b, loc, kernel,
             hostIndex(b, loc, llvm::divideCeil(config.n, kGemvMmaRows)), {},
             args);
    };
    auto launchLarge = [&](OpBuilder &b) {
      if (config.k % kGemmTileK != 0)
        return launchGeneric(b);
      auto kernel = getGemm4bitMmaKernel(module, config);
      launch(b, loc, kernel,
             hostIndex(b, loc, llvm::divideCeil(config.n, kGemmTileN)),
             hostCeilDiv(b, loc, m, kGemmTileM), args);
    };
    if (staticM) {
      if (*staticM <= kMaxGemvRows)
        return launchGemv(b, *staticM <= 8 ? 1 : 2);
      return launchLarge(b);
    }
    auto atMost = [&](OpBuilder &b, int64_t bound) {
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, m,
                                   hostIndex(b, loc, bound));
    };
    emitIf(
        b, loc, atMost(b, 8), [&](OpBuilder &b) { launchGemv(b, 1); },
        [&](OpBuilder &b) {
          emitIf(
              b, loc, atMost(b, kMaxGemvRows),
              [&](OpBuilder &b) { launchGemv(b, 2); }, launchLarge);
        });
  }

  GPUTarget target;
};

} // namespace

void mlir::bnb::gpu::populateLinear4bitPatterns(RewritePatternSet &patterns,
                                                const GPUTarget &target) {
  patterns.add<Linear4bitLowering>(patterns.getContext(), target);
}
