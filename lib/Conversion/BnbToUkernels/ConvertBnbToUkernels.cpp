//===- ConvertBnbToUkernels.cpp - convert-bnb-to-ukernels ------------------===//

#include "Patterns.h"

#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_CONVERTBNBTOUKERNELS
#include "bnb/Conversion/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

void mlir::bnb::populateBnbToUkernelsPatterns(RewritePatternSet &patterns) {
  ukernels::populateLinear4bitPatterns(patterns);
  ukernels::populateInt8Patterns(patterns);
  ukernels::populateMatmulPatterns(patterns);
}

namespace {
struct ConvertBnbToUkernelsPass
    : public mlir::bnb::impl::ConvertBnbToUkernelsBase<
          ConvertBnbToUkernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateBnbToUkernelsPatterns(patterns);
    // LLM.int8() layers expand here so that their int8 product becomes a
    // call; the 4-bit patterns above outrank bnb-expand's.
    populateBnbExpandPatterns(patterns);
    GreedyRewriteConfig config;
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     config)))
      return signalPassFailure();
  }
};
} // namespace
