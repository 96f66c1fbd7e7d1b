//===- DTypeMapping.h - MLIR element types <-> safetensors dtypes -*- C++ -*-===//

#ifndef BNB_DIALECT_BNB_UTILS_DTYPEMAPPING_H
#define BNB_DIALECT_BNB_UTILS_DTYPEMAPPING_H

#include "bnb/Support/DType.h"
#include "mlir/IR/Types.h"

#include <optional>

namespace mlir::bnb {

/// The safetensors dtype of an MLIR element type (f16 -> F16, ui8 -> U8,
/// i8 -> I8, i1 -> BOOL, ...), or std::nullopt.
std::optional<::bnb::DType> toDType(Type elementType);

/// The MLIR element type of a safetensors dtype (U8 -> ui8, I8 -> i8, ...).
Type fromDType(MLIRContext *context, ::bnb::DType dtype);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_UTILS_DTYPEMAPPING_H
