//===- BnbToLinalg.cpp - convert-bnb-to-linalg -----------------------------===//

#include "BnbToLinalgPatterns.h"

#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
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
/// The signless type with the same bits as an unsigned integer tensor type.
Type signlessBytes(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  auto intType = tensor ? dyn_cast<IntegerType>(tensor.getElementType())
                        : IntegerType();
  if (!intType || intType.isSignless())
    return type;
  return tensor.clone(
      IntegerType::get(type.getContext(), intType.getWidth()));
}

/// linalg and bufferization only handle signless integers, so the unsigned
/// byte tensors of packed weights and codes become i8 tensors with the same
/// bits everywhere, function signatures and constants included; the bitcasts
/// between the two views disappear.
void retypeUnsignedTensors(ModuleOp module) {
  module.walk([](Operation *op) {
    if (auto func = dyn_cast<FunctionOpInterface>(op)) {
      auto type = cast<FunctionType>(func.getFunctionType());
      SmallVector<Type> inputs, results;
      for (Type t : type.getInputs())
        inputs.push_back(signlessBytes(t));
      for (Type t : type.getResults())
        results.push_back(signlessBytes(t));
      func.setType(FunctionType::get(op->getContext(), inputs, results));
      for (Region &region : op->getRegions())
        for (Block &block : region)
          for (BlockArgument arg : block.getArguments())
            arg.setType(signlessBytes(arg.getType()));
      return;
    }
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (BlockArgument arg : block.getArguments())
          arg.setType(signlessBytes(arg.getType()));
    for (OpResult result : op->getResults())
      result.setType(signlessBytes(result.getType()));
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
      if (dense && dense.getType() != constant.getType())
        constant.setValueAttr(dense.bitcast(
            cast<ShapedType>(constant.getType()).getElementType()));
    }
  });
  module.walk([](tensor::BitcastOp bitcast) {
    if (bitcast.getSource().getType() == bitcast.getType()) {
      bitcast.getResult().replaceAllUsesWith(bitcast.getSource());
      bitcast.erase();
    }
  });
}

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
      return signalPassFailure();
    retypeUnsignedTensors(getOperation());
  }
};
} // namespace
