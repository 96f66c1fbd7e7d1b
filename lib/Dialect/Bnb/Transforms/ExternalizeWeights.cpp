//===- ExternalizeWeights.cpp - bnb-externalize-weights --------------------===//
//
// Weights become arguments of the entry points so that the compiled module
// never holds their bytes: the host maps the weights file and passes
// pointers. Globals with an inline value become constants instead.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBEXTERNALIZEWEIGHTS
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

namespace {
struct BnbExternalizeWeightsPass
    : public mlir::bnb::impl::BnbExternalizeWeightsBase<
          BnbExternalizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection symbols;
    bool failedAny = false;

    // Inline-valued globals are plain constants.
    module.walk([&](ml_program::GlobalLoadConstOp load) {
      auto global = symbols.lookupNearestSymbolFrom<ml_program::GlobalOp>(
          load, load.getGlobalAttr());
      if (!global || !global.getValue() ||
          isa<ml_program::ExternAttr>(*global.getValue()))
        return;
      auto value = dyn_cast<TypedAttr>(*global.getValue());
      if (!value) {
        load.emitOpError() << "global '" << global.getSymName()
                           << "' has a value that is not a typed attribute";
        failedAny = true;
        return;
      }
      OpBuilder b(load);
      auto constant = arith::ConstantOp::create(b, load.getLoc(), value);
      constant->setAttr(kWeightNameAttr, global.getSymNameAttr());
      load.replaceAllUsesWith(constant.getResult());
      load.erase();
    });

    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      // Loads of external weights, grouped by global, in order of first use.
      llvm::MapVector<ml_program::GlobalOp, SmallVector<Operation *>> loads;
      func.walk([&](ml_program::GlobalLoadConstOp load) {
        auto global = symbols.lookupNearestSymbolFrom<ml_program::GlobalOp>(
            load, load.getGlobalAttr());
        if (global)
          loads[global].push_back(load);
      });
      if (loads.empty())
        continue;
      if (!func.isPublic()) {
        func.emitOpError() << "loads weights but is not an entry point; "
                              "inline it into the public function first";
        failedAny = true;
        continue;
      }
      // All arguments in one insertion: one at a time rebuilds the type and
      // the argument attributes per weight, quadratic in a 7B graph's.
      unsigned first = func.getNumArguments();
      SmallVector<unsigned> indices(loads.size(), first);
      SmallVector<Type> types;
      SmallVector<DictionaryAttr> attrs;
      SmallVector<Location> locs;
      for (auto &entry : loads) {
        ml_program::GlobalOp global = entry.first;
        types.push_back(global.getType());
        attrs.push_back(DictionaryAttr::get(
            &getContext(),
            {NamedAttribute(
                StringAttr::get(&getContext(), kWeightArgAttr),
                StringAttr::get(&getContext(), global.getSymName()))}));
        locs.push_back(global.getLoc());
      }
      if (failed(func.insertArguments(indices, types, attrs, locs))) {
        failedAny = true;
        continue;
      }
      for (auto [i, entry] : llvm::enumerate(loads)) {
        for (Operation *load : entry.second) {
          load->getResult(0).replaceAllUsesWith(func.getArgument(first + i));
          load->erase();
        }
      }
    }
    if (failedAny)
      return signalPassFailure();

    // Externalized globals are no longer referenced. The names still used
    // are gathered in one walk: asking per global walks the module once per
    // weight. Unknown symbol uses (nullopt) keep every global.
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(&module.getBodyRegion());
    if (!uses)
      return;
    llvm::DenseSet<StringAttr> used;
    for (const SymbolTable::SymbolUse &use : *uses)
      used.insert(use.getSymbolRef().getRootReference());
    for (auto global :
         llvm::make_early_inc_range(module.getOps<ml_program::GlobalOp>()))
      if (!used.contains(global.getSymNameAttr()))
        global.erase();
  }
};
} // namespace
