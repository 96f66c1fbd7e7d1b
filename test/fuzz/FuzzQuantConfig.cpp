//===- FuzzQuantConfig.cpp - libFuzzer target: quantization_config JSON ---===//
//
// Parses and validates an arbitrary text as a transformers
// quantization_config (the --config file of bnb-quantize and bnb-compile),
// and looks up raw values the way the parser does.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/QuantConfig.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  std::vector<std::string> notes;
  llvm::Expected<bnb::quant::QuantConfig> config =
      bnb::quant::parseQuantConfig(text, "fuzz.json", notes);
  if (!config) {
    std::string message = llvm::toString(config.takeError());
    // Every error is one line.
    if (message.empty())
      __builtin_trap();
    return 0;
  }
  if (config->loadIn4bit && config->loadIn8bit)
    __builtin_trap();
  return 0;
}
