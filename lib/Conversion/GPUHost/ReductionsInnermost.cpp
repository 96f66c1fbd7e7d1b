//===- ReductionsInnermost.cpp - reduction loops of generics innermost ----===//
//
// The bnb-gpu-reductions-innermost pass: linalg.generic ops get their
// reduction dimensions innermost, so that the GPU mapping sees all their
// parallel dimensions as one parallel loop nest.
//
//===----------------------------------------------------------------------===//

#include "bnb/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBGPUREDUCTIONSINNERMOST
#include "bnb/Conversion/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;

namespace {

/// Reorders the loops of a generic: parallel dimensions first, then the
/// reductions, each group in its original order.
struct ReductionsInnermost : public OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<unsigned> parallel, reduction;
    for (auto [i, kind] : llvm::enumerate(op.getIteratorTypesArray()))
      (linalg::isReductionIterator(kind) ? reduction : parallel).push_back(i);
    // Already ordered when no parallel dimension follows a reduction.
    if (reduction.empty() || parallel.empty() ||
        parallel.back() < reduction.front())
      return rewriter.notifyMatchFailure(op, "reductions are innermost");
    SmallVector<unsigned> order(parallel);
    llvm::append_range(order, reduction);
    return failure(failed(linalg::interchangeGenericOp(rewriter, op, order)));
  }
};

struct BnbGPUReductionsInnermostPass
    : public bnb::impl::BnbGPUReductionsInnermostBase<
          BnbGPUReductionsInnermostPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    bnb::populateReductionsInnermostPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::bnb::populateReductionsInnermostPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ReductionsInnermost>(patterns.getContext());
}
