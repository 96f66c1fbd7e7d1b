//===- BnbDialect.cpp - bnb dialect ---------------------------------------===//

#include "bnb/Dialect/Bnb/IR/BnbDialect.h"
#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::bnb;

#include "bnb/Dialect/Bnb/IR/BnbOpsDialect.cpp.inc"

void BnbDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "bnb/Dialect/Bnb/IR/BnbOps.cpp.inc"
      >();
  registerAttributes();
}

Operation *BnbDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                           Type type, Location loc) {
  // Folders only produce dense tensor constants.
  auto typed = dyn_cast<TypedAttr>(value);
  if (!typed || typed.getType() != type)
    return nullptr;
  return arith::ConstantOp::create(builder, loc, type, typed);
}
