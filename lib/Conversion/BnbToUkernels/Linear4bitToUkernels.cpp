//===- Linear4bitToUkernels.cpp - 4-bit linears as one fused call ----------===//
//
// A quantized bnb.linear_4bit becomes x -> compute dtype -> f32, one call of
// the fused dequantize + multiply microkernel (f32 accumulator), and the
// epilogue bnb-expand also uses: the bias added in f32, one rounding to the
// compute dtype, the cast back to the input dtype.
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "UkernelCall.h"

#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Utils/TensorBuilders.h"
#include "bnb/Quant/Blockwise.h"
#include "bnb/Quant/Tables.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::bnb;
namespace bq = ::bnb::quant;

namespace {
struct Linear4bitToUkernel : public OpRewritePattern<Linear4bitOp> {
  // Preferred over bnb-expand's pattern when both are registered.
  Linear4bitToUkernel(MLIRContext *ctx)
      : OpRewritePattern<Linear4bitOp>(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(Linear4bitOp op,
                                PatternRewriter &rewriter) const override {
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    if (!inputType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic input shape");
    if (!op.isQuantized())
      return rewriter.notifyMatchFailure(op, "float weight");
    auto weightType = cast<RankedTensorType>(op.getWeight().getType());
    if (!weightType.getElementType().isUnsignedInteger(8))
      return rewriter.notifyMatchFailure(op, "weight is not packed bytes");
    Type computeType = op.getComputeDtype();
    int64_t compute = ukernels::dtypeCode(computeType);
    if (compute < 0)
      return rewriter.notifyMatchFailure(op, "unsupported compute dtype");

    auto module = op->getParentOfType<ModuleOp>();
    StringRef symbol =
        op.isNested() ? ukernels::kLinear4bitDq : ukernels::kLinear4bit;
    if (!module || !ukernels::symbolAvailable(module, symbol))
      return rewriter.notifyMatchFailure(op, "microkernel symbol taken");

    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();
    int64_t n = op.getOutFeatures();
    Value x = collapseTo2D(rewriter, loc, op.getInput());
    int64_t m = cast<RankedTensorType>(x.getType()).getDimSize(0);
    // The kernel takes x already rounded to the compute dtype, widened.
    Value xc = castFloatTensor(
        rewriter, loc, castFloatTensor(rewriter, loc, x, computeType), f32);

    const float *table = op.getQuantType() == QuantType::nf4
                             ? bq::kNF4Table
                             : bq::kFP4Table;
    Value codebook = ukernels::f32Constant(rewriter, loc,
                                           ArrayRef<float>(table, 16));
    Value packed = ukernels::flatten1D(rewriter, loc, op.getWeight());
    Value absmax = ukernels::flatten1D(rewriter, loc, op.getAbsmax());
    auto i64 = [&](int64_t v) {
      return arith::ConstantOp::create(rewriter, loc,
                                       rewriter.getI64IntegerAttr(v))
          .getResult();
    };
    auto accType = RankedTensorType::get({m, n}, f32);
    Value acc;
    if (op.isNested()) {
      Value nested = ukernels::flatten1D(rewriter, loc, op.getNestedAbsmax());
      Value code8 = ukernels::f32Constant(
          rewriter, loc, ArrayRef<float>(bq::kDynamicMap, 256));
      FloatAttr offsetAttr = op.getNestedOffsetAttr();
      Value offset = arith::ConstantOp::create(
          rewriter, loc,
          offsetAttr ? offsetAttr : rewriter.getF32FloatAttr(0.0f));
      acc = ukernels::callUkernel(
          rewriter, loc, module, symbol, accType,
          {xc, packed, absmax, nested, code8, codebook},
          {i64(op.getBlocksize()), i64(bq::kNestedBlocksize), offset,
           i64(compute)});
    } else {
      acc = ukernels::callUkernel(rewriter, loc, module, symbol,
                                  accType, {xc, packed, absmax, codebook},
                                  {i64(op.getBlocksize()), i64(compute)});
    }

    Value bias = op.getBias()
                     ? castFloatTensor(rewriter, loc, op.getBias(), computeType)
                     : Value();
    Value y = roundAccumulator(rewriter, loc, acc, bias, computeType);
    y = castFloatTensor(rewriter, loc, y, inputType.getElementType());
    rewriter.replaceOp(op, expandFrom2D(rewriter, loc, y, op.getType()));
    return success();
  }
};
} // namespace

void ukernels::populateLinear4bitPatterns(RewritePatternSet &patterns) {
  patterns.add<Linear4bitToUkernel>(patterns.getContext());
}
