//===- LinearSelection.cpp - which tensors are linear weights -------------===//

#include "LinearSelection.h"

#include "bnb/Support/DType.h"

#include "llvm/ADT/StringExtras.h"

using namespace bnb;
using namespace bnb::tools;
using llvm::StringRef;

std::vector<std::string> bnb::tools::automaticSkipModules() {
  return {"lm_head"};
}

llvm::Expected<LinearSelector>
LinearSelector::create(SelectionOptions options) {
  LinearSelector selector;
  selector.skipPatterns =
      options.skipModules ? *options.skipModules : automaticSkipModules();
  for (const std::string &pattern : selector.skipPatterns) {
    llvm::Regex regex("^(" + pattern + ")");
    std::string error;
    if (!regex.isValid(error))
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "llm_int8_skip_modules pattern '" + pattern +
              "' is not a valid regular expression: " + error);
    selector.skipRegexes.push_back(std::move(regex));
  }
  if (options.linearRegex) {
    llvm::Regex regex("^(" + *options.linearRegex + ")$");
    std::string error;
    if (!regex.isValid(error))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "--linear-regex '" + *options.linearRegex +
                                         "' is not a valid regular "
                                         "expression: " +
                                         error);
    selector.linearRegex = std::move(regex);
  }
  selector.options = std::move(options);
  return std::move(selector);
}

bool LinearSelector::isSkipped(StringRef name) const {
  for (size_t i = 0; i < skipPatterns.size(); ++i)
    if (skipRegexes[i].match(name) || name.ends_with(skipPatterns[i]))
      return true;
  return false;
}

namespace {
/// Embedding tables are nn.Embedding, never nn.Linear: any module whose last
/// name component mentions "embed" (embed_tokens, word_embeddings,
/// embed_positions, ...), GPT-2's wte/wpe, T5's shared table and relative
/// attention bias.
bool looksLikeEmbedding(StringRef module) {
  StringRef local =
      module.rsplit('.').second.empty() ? module : module.rsplit('.').second;
  return local.contains_insensitive("embed") || local == "wte" ||
         local == "wpe" || local == "shared" ||
         local == "relative_attention_bias";
}
} // namespace

Selection LinearSelector::classify(const SafetensorsTensor &tensor) const {
  Selection s;
  StringRef key = tensor.name;
  if (!key.ends_with(".weight") && key != "weight")
    return s;
  s.module = key == "weight" ? "" : key.drop_back(strlen(".weight")).str();
  if (tensor.shape.size() != 2) {
    s.reason = "not 2-D";
    return s;
  }
  if (tensor.dtype != ::bnb::DType::F16 && tensor.dtype != ::bnb::DType::BF16 &&
      tensor.dtype != ::bnb::DType::F32) {
    s.reason = "dtype " + ::bnb::dtypeSafetensorsName(tensor.dtype).str() +
               " is not float16, bfloat16 or float32";
    return s;
  }
  if (options.linearKeys) {
    if (!options.linearKeys->contains(s.module) &&
        !options.linearKeys->contains(key)) {
      s.reason = "not listed in --linear-keys";
      return s;
    }
  } else if (linearRegex) {
    if (!linearRegex->match(key)) {
      s.reason = "not matched by --linear-regex";
      return s;
    }
  } else if (looksLikeEmbedding(s.module)) {
    s.reason = "an embedding";
    return s;
  }
  if (isSkipped(s.module)) {
    s.reason = options.skipModules
                   ? "matched by llm_int8_skip_modules"
                   : "in transformers' automatic skip list (lm_head)";
    return s;
  }
  s.quantize = true;
  // Only GPT-2's transformer blocks are Conv1D; its lm_head is an nn.Linear.
  s.transpose = options.conv1d && !StringRef(s.module).ends_with("lm_head");
  return s;
}
