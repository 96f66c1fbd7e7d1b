//===- ReplaceLinear.cpp - bnb-replace-linear ------------------------------===//
//
// transformers' replace_with_bnb_linear on the model graph: every linear layer
// that is not skipped becomes a bnb.linear_int8 or bnb.linear_4bit on its
// float weight.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/ConfigResolution.h"
#include "bnb/Dialect/Bnb/Transforms/LinearMatcher.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "bnb/Dialect/Bnb/Transforms/SkipModules.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBREPLACELINEAR
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

namespace {

/// Why a linear keeps its 16-bit weight, or an empty string.
std::string skipReason(LinearMatch &match, ConfigAttr config,
                       const SkipList &userList,
                       const GlobalLoadCounts &loads) {
  if (config.getLlmInt8SkipModules()) {
    StringRef pattern = userList.match(match.moduleName);
    if (!pattern.empty())
      return ("matches llm_int8_skip_modules entry '" + pattern + "'").str();
    return "";
  }
  // transformers' automatic list: the output embedding (lm_head) and tied
  // weights. A user list replaces it entirely.
  if (match.moduleName == "lm_head" ||
      StringRef(match.moduleName).ends_with(".lm_head"))
    return "lm_head is skipped by default";
  if (feedsFunctionResult(match.getRoot()))
    return "the output embedding is skipped by default";
  if (isTiedWeight(match, loads))
    return "tied weights are skipped by default";
  return "";
}

/// Erases `ops` that became unused, in order, each at most once: the fill's
/// init and the bias add's init are often one tensor.empty.
void eraseIfDead(ArrayRef<Operation *> ops) {
  llvm::SmallPtrSet<Operation *, 4> erased;
  for (Operation *op : ops) {
    // Compared by address only: an erased op is never dereferenced.
    if (!op || erased.contains(op) || !op->use_empty() || !isPure(op))
      continue;
    erased.insert(op);
    op->erase();
  }
}

struct BnbReplaceLinearPass
    : public mlir::bnb::impl::BnbReplaceLinearBase<BnbReplaceLinearPass> {
  using Base::Base;

  // Reads the generated (protected) option members.
  template <typename OptionsT>
  friend ConfigOverrides mlir::bnb::overridesFromOptions(const OptionsT &);

  /// Set when a pipeline builds the pass from its own parsed options.
  std::optional<ConfigOverrides> preset;

  ConfigOverrides getOverrides() {
    return preset ? *preset : overridesFromOptions(*this);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<ConfigAttr> config = resolveConfig(module, getOverrides());
    if (failed(config))
      return signalPassFailure();
    if (!config->getLoadIn8bit() && !config->getLoadIn4bit()) {
      module.emitError() << "the bitsandbytes config sets neither "
                            "load_in_8bit nor load_in_4bit";
      return signalPassFailure();
    }
    if (config->getLoadIn4bit() && !isValid4bitBlocksize(blocksize)) {
      module.emitError() << "blocksize " << blocksize.getValue()
                         << " is not one bitsandbytes accepts for 4-bit "
                            "quantization (32, 64, ..., 4096)";
      return signalPassFailure();
    }
    std::vector<std::string> patterns;
    if (ArrayAttr list = config->getLlmInt8SkipModules())
      for (Attribute entry : list)
        patterns.push_back(cast<StringAttr>(entry).str());
    FailureOr<SkipList> userList =
        SkipList::build(patterns, [&] { return module.emitError(); });
    if (failed(userList))
      return signalPassFailure();
    module->setAttr(ConfigAttr::getModuleAttrName(), *config);

    SymbolTableCollection symbols;
    GlobalLoadCounts loads(module);
    SmallVector<LinearMatch> linears;
    unsigned unnamed = 0;
    module.walk([&](linalg::MatmulOp matmul) {
      std::optional<LinearMatch> match = matchLinear(matmul, symbols);
      if (!match)
        return;
      if (match->moduleName.empty())
        match->moduleName = "linear_" + std::to_string(unnamed++);
      if (!skipReason(*match, *config, *userList, loads).empty())
        return;
      linears.push_back(std::move(*match));
    });

    for (LinearMatch &match : linears)
      replace(match, *config);
  }

  void replace(LinearMatch &match, ConfigAttr config) {
    // An earlier replacement may have produced this layer's input.
    match.input = match.matmul.getDpsInputs()[0];
    Operation *root = match.getRoot();
    OpBuilder b(root);
    Location loc = root->getLoc();
    Type resultType = root->getResult(0).getType();
    StringAttr module = b.getStringAttr(match.moduleName);
    Value result;
    if (config.getLoadIn8bit()) {
      auto op = LinearInt8Op::create(
          b, loc, resultType, match.input, match.weight, /*scb=*/Value(),
          match.bias, module,
          b.getF32FloatAttr(static_cast<float>(config.getThreshold())),
          config.getLlmInt8HasFp16Weight() ? b.getUnitAttr() : UnitAttr(),
          match.conv1d ? b.getUnitAttr() : UnitAttr());
      result = op.getResult();
    } else {
      Type storage = config.getBnb4bitQuantStorage();
      TypeAttr storageAttr =
          storage.isUnsignedInteger(8) ? TypeAttr() : TypeAttr::get(storage);
      auto op = Linear4bitOp::create(
          b, loc, resultType, match.input, match.weight, /*absmax=*/Value(),
          /*nested_absmax=*/Value(), match.bias, module,
          QuantTypeAttr::get(b.getContext(), config.getBnb4bitQuantType()),
          b.getI64IntegerAttr(blocksize),
          TypeAttr::get(config.getBnb4bitComputeDtype()),
          b.getDenseI64ArrayAttr(
              {match.getOutFeatures(), match.getInFeatures()}),
          storageAttr, /*nested_offset=*/FloatAttr(),
          match.conv1d ? b.getUnitAttr() : UnitAttr());
      result = op.getResult();
    }
    root->getResult(0).replaceAllUsesWith(result);
    Operation *init = match.matmul.getDpsInits()[0].getDefiningOp();
    Operation *rhs = match.matmul.getDpsInputs()[1].getDefiningOp();
    Operation *biasInit =
        match.biasAdd ? match.biasAdd.getDpsInits()[0].getDefiningOp()
                      : nullptr;
    if (match.biasAdd)
      match.biasAdd->erase();
    match.matmul->erase();
    Operation *fillInit =
        isa_and_nonnull<linalg::FillOp>(init)
            ? cast<linalg::FillOp>(init).getDpsInits()[0].getDefiningOp()
            : nullptr;
    eraseIfDead({init, fillInit, biasInit,
                 rhs == match.weight.getDefiningOp() ? nullptr : rhs});
  }
};
} // namespace

std::unique_ptr<Pass>
mlir::bnb::createBnbReplaceLinear(const ConfigOverrides &overrides,
                                  int64_t blocksize) {
  BnbReplaceLinearOptions options;
  options.blocksize = blocksize;
  auto pass = std::make_unique<BnbReplaceLinearPass>(options);
  pass->preset = overrides;
  return pass;
}
