//===- WeightRef.cpp - where a weight value comes from ---------------------===//

#include "bnb/Dialect/Bnb/Transforms/WeightRef.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mlir::bnb;

bool WeightRef::isExternal() {
  return global && global.getValue() &&
         isa<ml_program::ExternAttr>(*global.getValue());
}

ElementsAttr WeightRef::getInlineValue() {
  if (auto constant = dyn_cast<arith::ConstantOp>(producer))
    return dyn_cast<ElementsAttr>(constant.getValue());
  if (global && global.getValue())
    return dyn_cast<ElementsAttr>(*global.getValue());
  return {};
}

std::optional<WeightRef> mlir::bnb::getWeightRef(Value value,
                                                 SymbolTableCollection &symbols) {
  Operation *def = value.getDefiningOp();
  if (!def)
    return std::nullopt;
  WeightRef ref;
  ref.producer = def;
  if (auto load = dyn_cast<ml_program::GlobalLoadConstOp>(def)) {
    ref.global = symbols.lookupNearestSymbolFrom<ml_program::GlobalOp>(
        load, load.getGlobalAttr());
    if (!ref.global)
      return std::nullopt;
    ref.key = ref.global.getSymName().str();
    return ref;
  }
  if (auto constant = dyn_cast<arith::ConstantOp>(def)) {
    if (!isa<ElementsAttr>(constant.getValue()))
      return std::nullopt;
    if (auto name = def->getAttrOfType<StringAttr>(kWeightNameAttr))
      ref.key = name.str();
    else if (auto loc = dyn_cast<NameLoc>(def->getLoc()))
      ref.key = loc.getName().str();
    return ref;
  }
  return std::nullopt;
}

std::string mlir::bnb::moduleNameForKey(StringRef key) {
  key.consume_back(".weight");
  return key.str();
}
