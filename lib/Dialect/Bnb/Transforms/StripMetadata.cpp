//===- StripMetadata.cpp - bnb-strip-metadata ------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/Passes.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBSTRIPMETADATA
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;

namespace {
bool isBnbAttr(NamedAttribute attr) {
  return attr.getName().strref().starts_with("bnb.");
}

struct BnbStripMetadataPass
    : public mlir::bnb::impl::BnbStripMetadataBase<BnbStripMetadataPass> {
  using Base::Base;

  void runOnOperation() override {
    getOperation()->walk([](Operation *op) {
      SmallVector<StringAttr> names;
      for (NamedAttribute attr : op->getDiscardableAttrs())
        if (isBnbAttr(attr))
          names.push_back(attr.getName());
      for (StringAttr name : names)
        op->removeDiscardableAttr(name);
      auto func = dyn_cast<FunctionOpInterface>(op);
      if (!func)
        return;
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        for (NamedAttribute attr : func.getArgAttrs(i))
          if (isBnbAttr(attr))
            func.removeArgAttr(i, attr.getName());
    });
  }
};
} // namespace
