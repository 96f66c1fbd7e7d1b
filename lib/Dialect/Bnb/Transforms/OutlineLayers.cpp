//===- OutlineLayers.cpp - bnb-outline-layers ------------------------------===//
//
// Turns the frontend's per-layer scf.execute_region markers into calls of one
// private function per distinct layer body, so that a 30-layer decoder is
// lowered, optimized and code-generated once, not 30 times.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBOUTLINELAYERS
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

namespace {
constexpr StringLiteral kLayerAttr = "bnb.layer";

/// Replaces a single-block execute_region by its body.
void inlineRegion(scf::ExecuteRegionOp op) {
  Block &body = op.getRegion().front();
  auto yield = cast<scf::YieldOp>(body.getTerminator());
  SmallVector<Value> results(yield.getOperands());
  yield.erase();
  op->getBlock()->getOperations().splice(Block::iterator(op),
                                         body.getOperations());
  op->replaceAllUsesWith(results);
  op.erase();
}

/// True for values a layer recreates instead of taking as an argument:
/// results of operand-free pure ops (constants, which then fold, and
/// tensor.empty, which bufferization then allocates inside the layer).
bool cloneable(Value value) {
  Operation *op = value.getDefiningOp();
  return op && op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
         op->getNumResults() == 1 && isPure(op);
}

/// Moves the body of `op` into a new private function next to `parent` and
/// replaces `op` by a call of it. Values from outside become arguments in
/// order of first use, except cloneable ones.
func::FuncOp outline(scf::ExecuteRegionOp op, func::FuncOp parent,
                     SymbolTable &symbols) {
  Region &region = op.getRegion();
  llvm::SetVector<Value> captured;
  getUsedValuesDefinedAbove(region, captured);

  OpBuilder b(parent);
  b.setInsertionPointAfter(parent);
  SmallVector<Value> args;
  SmallVector<Type> argTypes;
  for (Value value : captured)
    if (!cloneable(value)) {
      args.push_back(value);
      argTypes.push_back(value.getType());
    }
  auto fn = func::FuncOp::create(
      b, op.getLoc(), (parent.getSymName() + "_layer").str(),
      b.getFunctionType(argTypes, op.getResultTypes()));
  fn.setPrivate();
  symbols.insert(fn); // renames on a clash

  Block *body = fn.addEntryBlock();
  Block &old = region.front();
  body->getOperations().splice(body->end(), old.getOperations());
  OpBuilder inner = OpBuilder::atBlockBegin(body);
  auto inside = [&](OpOperand &use) {
    return fn->isProperAncestor(use.getOwner());
  };
  for (auto [value, arg] : llvm::zip(args, body->getArguments()))
    value.replaceUsesWithIf(arg, inside);
  for (Value value : captured) {
    if (!cloneable(value))
      continue;
    Operation *clone = inner.clone(*value.getDefiningOp());
    value.replaceUsesWithIf(clone->getResult(0), inside);
  }
  auto yield = cast<scf::YieldOp>(body->getTerminator());
  inner.setInsertionPoint(yield);
  func::ReturnOp::create(inner, yield.getLoc(), yield.getOperands());
  yield.erase();

  OpBuilder caller(op);
  auto call = func::CallOp::create(caller, op.getLoc(), fn, args);
  op->replaceAllUsesWith(call.getResults());
  op.erase();
  // Constants and empties the caller no longer uses.
  for (Value value : captured)
    if (cloneable(value) && value.use_empty())
      value.getDefiningOp()->erase();
  return fn;
}

/// True when two outlined layers compute the same thing: same signature and
/// structurally equal bodies (locations ignored).
bool sameLayer(func::FuncOp a, func::FuncOp b) {
  return a.getFunctionType() == b.getFunctionType() &&
         OperationEquivalence::isRegionEquivalentTo(
             &a.getBody(), &b.getBody(),
             OperationEquivalence::Flags::IgnoreLocations);
}

struct BnbOutlineLayersPass
    : public mlir::bnb::impl::BnbOutlineLayersBase<BnbOutlineLayersPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<scf::ExecuteRegionOp> layers;
    module.walk([&](scf::ExecuteRegionOp op) {
      if (op->hasAttr(kLayerAttr))
        layers.push_back(op);
    });
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> distinct;
    for (scf::ExecuteRegionOp op : layers) {
      auto parent = op->getParentOfType<func::FuncOp>();
      // Only a layer directly in a function body outlines cleanly; one with
      // several blocks or nested in another region is inlined.
      if (inlineOnly || !parent || op->getParentOp() != parent ||
          !op.getRegion().hasOneBlock()) {
        if (op.getRegion().hasOneBlock())
          inlineRegion(op);
        else
          op->removeAttr(kLayerAttr);
        continue;
      }
      func::FuncOp fn = outline(op, parent, symbols);
      auto same = llvm::find_if(
          distinct, [&](func::FuncOp other) { return sameLayer(other, fn); });
      if (same == distinct.end()) {
        distinct.push_back(fn);
        continue;
      }
      if (failed(SymbolTable::replaceAllSymbolUses(fn, same->getSymNameAttr(),
                                                   module)))
        return signalPassFailure();
      symbols.erase(fn);
    }
  }
};
} // namespace
