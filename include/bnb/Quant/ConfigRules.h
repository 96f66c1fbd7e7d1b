//===- ConfigRules.h - the value rules of BitsAndBytesConfig ----*- C++ -*-===//
//
// The one statement of which BitsAndBytesConfig values the project accepts:
// the JSON reader (QuantConfig.cpp), the #bnb.config verifier and the Python
// frontend (through `bnb-quantize --print-quant-tables`) all check against
// these lists and use these messages.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_CONFIGRULES_H
#define BNB_QUANT_CONFIGRULES_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace bnb::quant {

/// bnb_4bit_compute_dtype values the compiler supports (torch names).
inline constexpr llvm::StringLiteral kComputeDtypeNames[] = {
    "float16", "bfloat16", "float32"};

/// bnb_4bit_quant_storage values transformers accepts, in the order of its
/// error message.
inline constexpr llvm::StringLiteral kQuantStorageNames[] = {
    "float16", "float32", "int8", "uint8", "float64", "bfloat16"};

/// bnb_4bit_quant_type values bitsandbytes implements.
inline constexpr llvm::StringLiteral kQuantTypeNames[] = {"nf4", "fp4"};

/// transformers' message when load_in_4bit and load_in_8bit are both set.
inline constexpr llvm::StringLiteral kBothLoadsMessage =
    "load_in_4bit and load_in_8bit are both True, but only one can be used "
    "at the same time";

/// The message for a bnb_4bit_quant_storage outside kQuantStorageNames.
std::string quantStorageMessage();

/// True when `name` is one of `names`.
bool isOneOf(llvm::StringRef name, llvm::ArrayRef<llvm::StringLiteral> names);

/// llm_int8_threshold must be a number >= 0 (NaN is not).
inline bool isValidThreshold(double threshold) { return threshold >= 0.0; }

} // namespace bnb::quant

#endif // BNB_QUANT_CONFIGRULES_H
