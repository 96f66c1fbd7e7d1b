//===- BnbDialect.h - bnb dialect ---------------------------------*- C++ -*-===//
//
// Declares the bnb dialect, its attributes and its operations.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_IR_BNBDIALECT_H
#define BNB_DIALECT_BNB_IR_BNBDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "bnb/Dialect/Bnb/IR/BnbOpsDialect.h.inc"

#endif // BNB_DIALECT_BNB_IR_BNBDIALECT_H
