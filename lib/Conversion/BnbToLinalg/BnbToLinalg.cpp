//===- BnbToLinalg.cpp - convert-bnb-to-linalg -----------------------------===//

#include "BnbToLinalgPatterns.h"

#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/Transforms/DialectConversion.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_CONVERTBNBTOLINALG
#include "bnb/Conversion/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

void mlir::bnb::populateBnbToLinalgPatterns(RewritePatternSet &patterns) {
  lowering::populateInt8ToLinalgPatterns(patterns);
  lowering::populateBlockwiseToLinalgPatterns(patterns);
}

namespace {
struct ConvertBnbToLinalgPass
    : public mlir::bnb::impl::ConvertBnbToLinalgBase<ConvertBnbToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalOp<QuantizeRowwiseOp, OutlierSplitOp, Int8MatmulOp,
                        DequantizeInt8Op, Quantize4bitOp, Dequantize4bitOp,
                        QuantizeBlockwiseOp, DequantizeBlockwiseOp>();
    // Whole layers must be expanded first (bnb-expand).
    target.addIllegalOp<LinearInt8Op, Linear4bitOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateBnbToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
