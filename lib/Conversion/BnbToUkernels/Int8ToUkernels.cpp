//===- Int8ToUkernels.cpp - the LLM.int8() product as one call -------------===//
//
// bnb.int8_matmul is the only part of an expanded LLM.int8() layer whose cost
// grows with the weight; the row quantization, outlier split and dequant
// around it stay in the portable lowering, bit-exact with lib/Quant.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "UkernelCall.h"

#include "bnb/Dialect/Bnb/IR/BnbOps.h"

using namespace mlir;
using namespace mlir::bnb;

namespace {
struct Int8MatmulToUkernel : public OpRewritePattern<Int8MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(Int8MatmulOp op,
                                PatternRewriter &rewriter) const override {
    auto lhsType = cast<RankedTensorType>(op.getLhs().getType());
    auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
    auto resultType = cast<RankedTensorType>(op.getType());
    if (!lhsType.hasStaticShape() || !rhsType.hasStaticShape() ||
        lhsType.getRank() != 2 || rhsType.getRank() != 2)
      return rewriter.notifyMatchFailure(op, "needs static 2-D operands");
    auto module = op->getParentOfType<ModuleOp>();
    if (!module || !ukernels::symbolAvailable(module, ukernels::kInt8Matmul))
      return rewriter.notifyMatchFailure(op, "microkernel symbol taken");
    Value result = ukernels::callUkernel(
        rewriter, op.getLoc(), module, ukernels::kInt8Matmul, resultType,
        {op.getLhs(), op.getRhs()}, {});
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void ukernels::populateInt8Patterns(RewritePatternSet &patterns) {
  patterns.add<Int8MatmulToUkernel>(patterns.getContext());
}
