//===- DropInOutResults.cpp - bnb-drop-inout-results -----------------------===//
//
// Entry points that update a buffer in place (the KV caches of decode and
// prefill) return it as a tensor; after bufferization that result is the
// argument itself. Dropping it keeps the cache in the caller's buffer, with
// no copy into an out-parameter per call.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBDROPINOUTRESULTS
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

namespace {
/// The argument result `index` is at every return of `func`, or null.
BlockArgument returnedArgument(func::FuncOp func, unsigned index) {
  BlockArgument arg;
  WalkResult walk = func.walk([&](func::ReturnOp ret) {
    auto candidate = dyn_cast<BlockArgument>(ret.getOperand(index));
    if (!candidate || candidate.getOwner() != &func.getBody().front() ||
        (arg && arg != candidate))
      return WalkResult::interrupt();
    arg = candidate;
    return WalkResult::advance();
  });
  return walk.wasInterrupted() ? BlockArgument() : arg;
}

struct BnbDropInOutResultsPass
    : public mlir::bnb::impl::BnbDropInOutResultsBase<
          BnbDropInOutResultsPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (!func.isPublic() || func.isExternal())
        continue;
      llvm::BitVector drop(func.getNumResults());
      for (unsigned i = 0; i < func.getNumResults(); ++i) {
        bool cache = func.getResultAttr(i, kKvCacheAttr) != nullptr;
        if (!isa<BaseMemRefType>(func.getResultTypes()[i]))
          continue;
        BlockArgument arg = returnedArgument(func, i);
        if (arg) {
          drop.set(i);
          continue;
        }
        if (cache) {
          func.emitOpError()
              << "result " << i
              << " is a KV cache that is not updated in place in its "
                 "argument (bufferization copies it)";
          return signalPassFailure();
        }
      }
      if (drop.none())
        continue;
      func.walk([&](func::ReturnOp ret) { ret->eraseOperands(drop); });
      if (failed(func.eraseResults(drop)))
        return signalPassFailure();
    }
  }
};
} // namespace
