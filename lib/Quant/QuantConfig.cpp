//===- QuantConfig.cpp - transformers' BitsAndBytesConfig -----------------===//

#include "bnb/Quant/QuantConfig.h"
#include "bnb/Quant/ConfigRules.h"
#include "bnb/Support/BoundedJson.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"

using namespace bnb;
using namespace bnb::quant;
using namespace bnb::quant;
using llvm::Error;
using llvm::StringRef;

namespace {

/// A structure-only JSON walker over text llvm::json already accepted.
class RawScanner {
public:
  RawScanner(StringRef text, llvm::ArrayRef<StringRef> path)
      : text(text), path(path) {}

  std::optional<StringRef> run() {
    value(0, true);
    return found;
  }

private:
  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  /// Consumes a string; returns its raw contents.
  StringRef string() {
    size_t begin = ++pos;
    while (pos < text.size() && text[pos] != '"')
      pos += text[pos] == '\\' ? 2 : 1;
    StringRef contents = text.slice(begin, pos);
    ++pos;
    return contents;
  }

  void value(size_t depth, bool onPath) {
    skipSpace();
    if (pos >= text.size())
      return;
    char c = text[pos];
    if (c == '{' || c == '[') {
      bool isObject = c == '{';
      ++pos;
      skipSpace();
      if (pos < text.size() && (text[pos] == '}' || text[pos] == ']')) {
        ++pos;
        return;
      }
      while (pos < text.size()) {
        bool match = false;
        if (isObject) {
          skipSpace();
          StringRef key = string();
          skipSpace();
          ++pos; // ':'
          match = onPath && depth < path.size() && key == path[depth];
        }
        if (match && depth + 1 == path.size()) {
          skipSpace();
          size_t begin = pos;
          value(depth + 1, false);
          found = text.slice(begin, pos);
        } else {
          value(depth + 1, match);
        }
        skipSpace();
        if (pos < text.size() && text[pos] == ',') {
          ++pos;
          continue;
        }
        ++pos; // '}' or ']'
        return;
      }
      return;
    }
    if (c == '"') {
      string();
      return;
    }
    while (pos < text.size() && !StringRef(",]} \t\r\n").contains(text[pos]))
      ++pos;
  }

  StringRef text;
  llvm::ArrayRef<StringRef> path;
  size_t pos = 0;
  std::optional<StringRef> found;
};

Error configError(StringRef fileName, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "'" + fileName + "': " + message);
}

} // namespace

std::optional<StringRef>
bnb::quant::rawJsonValue(StringRef json, llvm::ArrayRef<StringRef> path) {
  return RawScanner(json, path).run();
}

llvm::Expected<QuantConfig>
bnb::quant::parseQuantConfig(StringRef text, StringRef fileName,
                             std::vector<std::string> &notes) {
  llvm::Expected<llvm::json::Value> parsed = ::bnb::parseBoundedJson(text);
  if (!parsed)
    return configError(fileName,
                       "not valid JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return configError(fileName, "not a JSON object");

  // A model config.json nests the quantization config.
  std::vector<StringRef> prefix;
  const llvm::json::Object *config = root;
  if (const llvm::json::Value *nested = root->get("quantization_config")) {
    config = nested->getAsObject();
    if (!config)
      return configError(fileName, "quantization_config is not a JSON object");
    prefix.push_back("quantization_config");
  }

  QuantConfig result;
  auto getBool = [&](StringRef key, bool &out) -> Error {
    const llvm::json::Value *v = config->get(key);
    if (!v)
      return Error::success();
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return configError(fileName, key + " must be a boolean");
    out = *b;
    return Error::success();
  };

  for (const auto &kv : *config) {
    StringRef key = kv.first;
    bool known =
        llvm::StringSwitch<bool>(key)
            .Cases({"load_in_8bit", "load_in_4bit", "llm_int8_threshold",
                    "llm_int8_skip_modules", "llm_int8_enable_fp32_cpu_offload",
                    "llm_int8_has_fp16_weight", "bnb_4bit_compute_dtype",
                    "bnb_4bit_quant_type", "bnb_4bit_use_double_quant",
                    "bnb_4bit_quant_storage", "quant_method", "_load_in_8bit",
                    "_load_in_4bit"},
                   true)
            .Default(false);
    if (!known)
      notes.push_back("'" + fileName.str() + "': ignoring unknown key '" +
                      key.str() + "'");
  }

  if (const llvm::json::Value *method = config->get("quant_method")) {
    std::optional<StringRef> name = method->getAsString();
    if (!name || *name != "bitsandbytes")
      return configError(fileName, "quant_method must be \"bitsandbytes\"");
  }

  for (auto [key, field] :
       {std::pair<StringRef, bool *>{"load_in_8bit", &result.loadIn8bit},
        {"load_in_4bit", &result.loadIn4bit},
        {"llm_int8_enable_fp32_cpu_offload",
         &result.llmInt8EnableFp32CpuOffload},
        {"llm_int8_has_fp16_weight", &result.llmInt8HasFp16Weight},
        {"bnb_4bit_use_double_quant", &result.bnb4bitUseDoubleQuant}})
    if (Error err = getBool(key, *field))
      return std::move(err);

  if (const llvm::json::Value *v = config->get("llm_int8_threshold")) {
    // Python's json makes 6 an int and 6.0 a float; transformers requires a
    // float. JSON numbers with a fraction or exponent are Python floats.
    std::vector<StringRef> path = prefix;
    path.push_back("llm_int8_threshold");
    std::optional<StringRef> raw = rawJsonValue(text, path);
    std::optional<double> number = v->getAsNumber();
    bool isFloat =
        number && raw && raw->find_first_of(".eE") != StringRef::npos;
    if (!isFloat)
      return configError(fileName, "llm_int8_threshold must be a float");
    if (!isValidThreshold(*number))
      return configError(fileName, "llm_int8_threshold must not be negative");
    result.llmInt8Threshold = static_cast<float>(*number);
  }

  if (const llvm::json::Value *v = config->get("llm_int8_skip_modules")) {
    if (v->kind() != llvm::json::Value::Null) {
      const llvm::json::Array *list = v->getAsArray();
      if (!list)
        return configError(fileName,
                           "llm_int8_skip_modules must be a list of strings");
      std::vector<std::string> modules;
      for (const llvm::json::Value &item : *list) {
        std::optional<StringRef> name = item.getAsString();
        if (!name)
          return configError(fileName,
                             "llm_int8_skip_modules must be a list of strings");
        modules.push_back(name->str());
      }
      result.llmInt8SkipModules = std::move(modules);
    }
  }

  if (const llvm::json::Value *v = config->get("bnb_4bit_compute_dtype")) {
    if (v->kind() != llvm::json::Value::Null) {
      std::optional<StringRef> name = v->getAsString();
      if (!name)
        return configError(
            fileName,
            "bnb_4bit_compute_dtype must be a string or a torch.dtype");
      std::optional<DType> dt = parseTorchDtype(*name);
      if (!dt || !isOneOf(torchDtypeName(*dt), kComputeDtypeNames))
        return configError(
            fileName, "bnb_4bit_compute_dtype '" + *name + "' is not one of " +
                          llvm::join(llvm::ArrayRef<llvm::StringLiteral>(
                                         kComputeDtypeNames),
                                     ", "));
      result.bnb4bitComputeDtype = *dt;
    }
  }

  if (const llvm::json::Value *v = config->get("bnb_4bit_quant_type")) {
    std::optional<StringRef> name = v->getAsString();
    if (!name)
      return configError(fileName, "bnb_4bit_quant_type must be a string");
    std::optional<QuantType> qt = parseQuantType(*name);
    if (!qt)
      return configError(fileName, "bnb_4bit_quant_type '" + *name +
                                       "' is not supported by bitsandbytes "
                                       "(nf4 or fp4)");
    result.bnb4bitQuantType = *qt;
  }

  if (const llvm::json::Value *v = config->get("bnb_4bit_quant_storage")) {
    if (v->kind() != llvm::json::Value::Null) {
      std::optional<StringRef> name = v->getAsString();
      // Exact torch names only: transformers rejects aliases such as "half".
      std::optional<DType> dt;
      if (name && isOneOf(*name, kQuantStorageNames))
        dt = parseTorchDtype(*name);
      if (!dt)
        return configError(fileName, quantStorageMessage());
      result.bnb4bitQuantStorage = *dt;
    }
  }

  if (result.loadIn4bit && result.loadIn8bit)
    return configError(fileName, kBothLoadsMessage);
  if (!result.loadIn4bit && !result.loadIn8bit)
    return configError(fileName, "nothing to quantize: neither load_in_4bit "
                                 "nor load_in_8bit is true");
  return result;
}
