//===- BnbOps.h - bnb operations ----------------------------------*- C++ -*-===//
//
// Declares the bnb operations.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_IR_BNBOPS_H
#define BNB_DIALECT_BNB_IR_BNBOPS_H

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "bnb/Dialect/Bnb/IR/BnbDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "bnb/Dialect/Bnb/IR/BnbOps.h.inc"

#endif // BNB_DIALECT_BNB_IR_BNBOPS_H
