//===- QuantConfig.h - transformers' BitsAndBytesConfig ---------*- C++ -*-===//
//
// Reads a BitsAndBytesConfig as transformers serializes it (to_dict(), or a
// model config.json whose "quantization_config" holds it) and validates it the
// way BitsAndBytesConfig.post_init does.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_QUANTCONFIG_H
#define BNB_QUANT_QUANTCONFIG_H

#include "bnb/Support/DType.h"
#include "bnb/Quant/QuantType.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace bnb::quant {

/// The BitsAndBytesConfig fields, with transformers' defaults.
struct QuantConfig {
  bool loadIn8bit = false;
  bool loadIn4bit = false;
  float llmInt8Threshold = 6.0f;
  /// None means transformers' automatic list (lm_head and tied weights).
  std::optional<std::vector<std::string>> llmInt8SkipModules;
  bool llmInt8EnableFp32CpuOffload = false;
  bool llmInt8HasFp16Weight = false;
  DType bnb4bitComputeDtype = DType::F32;
  QuantType bnb4bitQuantType = QuantType::FP4;
  bool bnb4bitUseDoubleQuant = false;
  DType bnb4bitQuantStorage = DType::U8;
};

/// Parses and validates the JSON text of `fileName`. Keys transformers does
/// not know are reported in `notes` and otherwise ignored; the internal keys
/// to_dict() writes (_load_in_4bit, _load_in_8bit) are ignored silently, as
/// transformers does.
llvm::Expected<QuantConfig> parseQuantConfig(llvm::StringRef text,
                                             llvm::StringRef fileName,
                                             std::vector<std::string> &notes);

/// The source text of the value at `path` (object keys from the root) in
/// the valid JSON `json`; the last of duplicate keys wins, as in Python's
/// json. Used where Python distinguishes what JSON does not: 6 is an int,
/// 6.0 a float.
std::optional<llvm::StringRef>
rawJsonValue(llvm::StringRef json, llvm::ArrayRef<llvm::StringRef> path);

} // namespace bnb::quant

#endif // BNB_QUANT_QUANTCONFIG_H
