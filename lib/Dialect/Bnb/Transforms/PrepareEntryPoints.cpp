//===- PrepareEntryPoints.cpp - bnb-prepare-entry-points -------------------===//

#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBPREPAREENTRYPOINTS
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;

namespace {
struct BnbPrepareEntryPointsPass
    : public mlir::bnb::impl::BnbPrepareEntryPointsBase<
          BnbPrepareEntryPointsPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!func.isPublic() || func.isExternal())
        continue;
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(ctx));
      // KV caches are state the entry point updates in place; every other
      // tensor argument is read-only.
      for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
        if (isa<TensorType>(type))
          func.setArgAttr(
              i, bufferization::BufferizationDialect::kWritableAttrName,
              BoolAttr::get(ctx, func.getArgAttr(i, mlir::bnb::kKvCacheAttr) !=
                                     nullptr));
    }
  }
};
} // namespace
