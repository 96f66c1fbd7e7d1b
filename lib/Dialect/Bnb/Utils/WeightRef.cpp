//===- WeightRef.cpp - where a weight value comes from ---------------------===//

#include "bnb/Dialect/Bnb/Utils/WeightRef.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::bnb;

bool WeightRef::isExternal() {
  if (argument)
    return true;
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
  WeightRef ref;
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    auto func =
        dyn_cast_or_null<FunctionOpInterface>(arg.getOwner()->getParentOp());
    if (!func || arg.getOwner() != &func.getFunctionBody().front())
      return std::nullopt;
    auto key = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                 kWeightArgAttr);
    if (!key)
      return std::nullopt;
    ref.argument = arg;
    ref.key = key.str();
    return ref;
  }
  Operation *def = value.getDefiningOp();
  if (!def)
    return std::nullopt;
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
