//===- QuantType.h - the 4-bit data types -----------------------*- C++ -*-===//

#ifndef BNB_QUANT_QUANTTYPE_H
#define BNB_QUANT_QUANTTYPE_H

#include "llvm/ADT/StringRef.h"

#include <optional>

namespace bnb::quant {

/// bitsandbytes' 4-bit data types.
enum class QuantType { NF4, FP4 };

/// Parses "nf4" or "fp4" (bitsandbytes' spelling, lowercase only).
std::optional<QuantType> parseQuantType(llvm::StringRef name);

/// "nf4" or "fp4".
llvm::StringRef quantTypeName(QuantType qt);

} // namespace bnb::quant

#endif // BNB_QUANT_QUANTTYPE_H
