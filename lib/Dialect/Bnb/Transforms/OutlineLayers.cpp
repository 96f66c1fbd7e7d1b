//===- OutlineLayers.cpp - bnb-outline-layers ------------------------------===//
//
// Turns the frontend's per-layer scf.execute_region markers into calls of one
// private function per distinct layer body, so that a 30-layer decoder is
// lowered, optimized and code-generated once, not 30 times.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
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

/// The scalar constants of `fn` in walk order: what may differ between
/// layers of one shape (a double-quantization offset, say).
SmallVector<arith::ConstantOp> scalarConstants(func::FuncOp fn) {
  SmallVector<arith::ConstantOp> constants;
  fn.walk([&](arith::ConstantOp op) {
    if (op.getType().isIntOrIndexOrFloat())
      constants.push_back(op);
  });
  return constants;
}

/// True when two outlined layers compute the same thing up to the values of
/// their scalar constants: same signature, structurally equal bodies
/// (locations ignored), the scalar constants compared by type only.
bool sameShape(func::FuncOp a, func::FuncOp b) {
  if (a.getFunctionType() != b.getFunctionType())
    return false;
  SmallVector<arith::ConstantOp> ca = scalarConstants(a),
                                 cb = scalarConstants(b);
  if (ca.size() != cb.size())
    return false;
  llvm::DenseMap<Operation *, Operation *> pairs;
  for (auto [x, y] : llvm::zip(ca, cb)) {
    if (x.getType() != y.getType())
      return false;
    pairs[x] = y;
  }
  // Equivalent values: the same SSA value, paired block arguments, results
  // of paired constants and of ops found equivalent on the way.
  llvm::DenseMap<Value, Value> same;
  auto check = [&](Value l, Value r) -> LogicalResult {
    if (l == r)
      return success();
    auto it = same.find(l);
    return success(it != same.end() && it->second == r);
  };
  auto mark = [&](Value l, Value r) { same[l] = r; };
  Block &ba = a.getBody().front(), &bb = b.getBody().front();
  if (ba.getOperations().size() != bb.getOperations().size())
    return false;
  for (auto [l, r] : llvm::zip(ba.getArguments(), bb.getArguments()))
    mark(l, r);
  for (auto [l, r] : llvm::zip(ba, bb)) {
    auto it = pairs.find(&l);
    if (it != pairs.end()) {
      if (it->second != &r)
        return false;
      mark(l.getResult(0), r.getResult(0));
      continue;
    }
    if (!OperationEquivalence::isEquivalentTo(
            &l, &r, check, mark, OperationEquivalence::IgnoreLocations))
      return false;
  }
  return true;
}

/// Makes the scalar constants in which `members` differ from `rep` trailing
/// arguments of `rep`; every call of `rep` or of a member passes its own
/// values.
void liftDifferingConstants(func::FuncOp rep, ArrayRef<func::FuncOp> members,
                            ModuleOp module) {
  SmallVector<arith::ConstantOp> repConstants = scalarConstants(rep);
  SmallVector<SmallVector<arith::ConstantOp>> memberConstants;
  for (func::FuncOp member : members)
    memberConstants.push_back(scalarConstants(member));
  SmallVector<unsigned> varying;
  for (unsigned i = 0; i < repConstants.size(); ++i)
    if (llvm::any_of(memberConstants, [&](auto &c) {
          return c[i].getValue() != repConstants[i].getValue();
        }))
      varying.push_back(i);
  if (varying.empty())
    return;
  // The values each function's calls pass, by callee name.
  llvm::StringMap<SmallVector<TypedAttr>> values;
  auto record = [&](func::FuncOp fn,
                    MutableArrayRef<arith::ConstantOp> constants) {
    SmallVector<TypedAttr> &v = values[fn.getSymName()];
    for (unsigned i : varying)
      v.push_back(constants[i].getValue());
  };
  record(rep, repConstants);
  for (auto [member, constants] : llvm::zip(members, memberConstants))
    record(member, constants);
  Block &body = rep.getBody().front();
  for (unsigned i : varying) {
    arith::ConstantOp op = repConstants[i];
    BlockArgument arg = body.addArgument(op.getType(), op.getLoc());
    op.getResult().replaceAllUsesWith(arg);
    op.erase();
  }
  rep.setType(FunctionType::get(rep.getContext(), body.getArgumentTypes(),
                                rep.getResultTypes()));
  module.walk([&](func::CallOp call) {
    auto it = values.find(call.getCallee());
    if (it == values.end())
      return;
    OpBuilder b(call);
    SmallVector<Value> operands(call.getOperands());
    for (TypedAttr value : it->second)
      operands.push_back(arith::ConstantOp::create(b, call.getLoc(), value));
    call->setOperands(operands);
  });
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
    // Outlined layers grouped by shape; the first of a group represents it.
    SmallVector<SmallVector<func::FuncOp>> groups;
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
      auto group = llvm::find_if(
          groups, [&](auto &g) { return sameShape(g.front(), fn); });
      if (group == groups.end())
        groups.push_back({fn});
      else
        group->push_back(fn);
    }
    for (SmallVector<func::FuncOp> &group : groups) {
      func::FuncOp rep = group.front();
      ArrayRef<func::FuncOp> members = ArrayRef(group).drop_front();
      liftDifferingConstants(rep, members, module);
      for (func::FuncOp member : members) {
        if (failed(SymbolTable::replaceAllSymbolUses(
                member, rep.getSymNameAttr(), module)))
          return signalPassFailure();
        symbols.erase(member);
      }
    }
  }
};
} // namespace
