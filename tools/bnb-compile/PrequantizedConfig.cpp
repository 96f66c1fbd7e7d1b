//===- PrequantizedConfig.cpp - --config against a pre-quantized graph ----===//

#include "PrequantizedConfig.h"

#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace bnb::tools {
bool hasPrequantizedLayers(ModuleOp module) {
  WalkResult walk = module.walk([](Operation *op) {
    if (auto layer = dyn_cast<mlir::bnb::LinearInt8Op>(op);
        layer && layer.isQuantized())
      return WalkResult::interrupt();
    if (auto layer = dyn_cast<mlir::bnb::Linear4bitOp>(op);
        layer && layer.isQuantized())
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return walk.wasInterrupted();
}

} // namespace bnb::tools

namespace {
/// `value` as a short string for the message.
template <typename T> std::string show(const T &value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << value;
  return text;
}

std::string show(bool value) { return value ? "true" : "false"; }

std::string show(ArrayAttr list) {
  return list ? show(Attribute(list)) : std::string("none");
}
} // namespace

namespace bnb::tools {
std::string prequantizedConfigConflict(ModuleOp module,
                                       mlir::bnb::ConfigAttr given,
                                       llvm::StringRef configPath) {
  auto stored = module->getAttrOfType<mlir::bnb::ConfigAttr>(
      mlir::bnb::ConfigAttr::getModuleAttrName());
  if (!stored || !hasPrequantizedLayers(module))
    return {};
  std::string field, mine, theirs;
  auto differ = [&](llvm::StringRef name, std::string a, std::string b) {
    if (!field.empty() || a == b)
      return;
    field = name.str();
    mine = std::move(a);
    theirs = std::move(b);
  };
  differ("load_in_8bit", show(given.getLoadIn8bit()),
         show(stored.getLoadIn8bit()));
  differ("load_in_4bit", show(given.getLoadIn4bit()),
         show(stored.getLoadIn4bit()));
  // The threshold is a float32 in bitsandbytes; compare what it rounds to.
  differ("llm_int8_threshold", show(float(given.getThreshold())),
         show(float(stored.getThreshold())));
  differ("llm_int8_skip_modules", show(given.getLlmInt8SkipModules()),
         show(stored.getLlmInt8SkipModules()));
  differ("llm_int8_enable_fp32_cpu_offload",
         show(given.getLlmInt8EnableFp32CpuOffload()),
         show(stored.getLlmInt8EnableFp32CpuOffload()));
  differ("llm_int8_has_fp16_weight", show(given.getLlmInt8HasFp16Weight()),
         show(stored.getLlmInt8HasFp16Weight()));
  differ("bnb_4bit_compute_dtype", show(given.getBnb4bitComputeDtype()),
         show(stored.getBnb4bitComputeDtype()));
  differ("bnb_4bit_quant_type",
         mlir::bnb::stringifyQuantType(given.getBnb4bitQuantType()).str(),
         mlir::bnb::stringifyQuantType(stored.getBnb4bitQuantType()).str());
  differ("bnb_4bit_use_double_quant", show(given.getBnb4bitUseDoubleQuant()),
         show(stored.getBnb4bitUseDoubleQuant()));
  differ("bnb_4bit_quant_storage", show(given.getBnb4bitQuantStorage()),
         show(stored.getBnb4bitQuantStorage()));
  if (field.empty())
    return {};
  // The compute dtype is no part of the stored state: say how to change it.
  llvm::StringRef hint = field == "bnb_4bit_compute_dtype"
                             ? "; --bnb-4bit-compute-dtype computes it in "
                               "another dtype"
                             : "";
  return ("'" + configPath +
          "' conflicts with the pre-quantized graph's "
          "quantization_config: " +
          field + " is " + mine + ", the checkpoint was quantized with " +
          theirs + hint)
      .str();
}
} // namespace bnb::tools
