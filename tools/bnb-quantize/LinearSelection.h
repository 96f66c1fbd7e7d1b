//===- LinearSelection.h - which tensors are linear weights -----*- C++ -*-===//
//
// A bare safetensors file has no module tree, so bnb-quantize decides from
// keys, shapes and dtypes which tensors are nn.Linear (or GPT-2 Conv1D)
// weights that transformers would replace; docs/bnb-quantize.md states the
// rule.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TOOLS_BNBQUANTIZE_LINEARSELECTION_H
#define BNB_TOOLS_BNBQUANTIZE_LINEARSELECTION_H

#include "bnb/Support/Safetensors.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/Regex.h"

#include <optional>
#include <string>
#include <vector>

namespace bnb::tools {

/// What the user said about linear layers.
struct SelectionOptions {
  /// llm_int8_skip_modules; none means transformers' automatic list.
  std::optional<std::vector<std::string>> skipModules;
  /// --linear-regex: a key is a linear weight iff the regex matches all of it.
  std::optional<std::string> linearRegex;
  /// --linear-keys: module names (or weight keys) of the linear layers.
  std::optional<llvm::StringSet<>> linearKeys;
  /// Weights are stored [in, out] (GPT-2 Conv1D) and are transposed first.
  bool conv1d = false;
};

/// The decision for one tensor.
struct Selection {
  bool quantize = false;
  /// The weight is a Conv1D weight: transpose before quantizing.
  bool transpose = false;
  /// The module name (the key without ".weight").
  std::string module;
  /// Why a `.weight` tensor is not quantized (empty when it is, or when the
  /// tensor is not a weight at all).
  std::string reason;
};

/// Compiled selection rules.
class LinearSelector {
public:
  /// Compiles the patterns; fails on an invalid regular expression.
  static llvm::Expected<LinearSelector> create(SelectionOptions options);

  /// Classifies `tensor`.
  Selection classify(const SafetensorsTensor &tensor) const;

  /// Whether transformers' skip patterns match module `name` (v5 semantics:
  /// regex match anchored at the start, or a suffix match).
  bool isSkipped(llvm::StringRef name) const;

private:
  SelectionOptions options;
  std::vector<std::string> skipPatterns;
  std::vector<llvm::Regex> skipRegexes;
  std::optional<llvm::Regex> linearRegex;
};

/// The automatic skip list transformers builds for a model whose module tree
/// is unknown: the output embedding "lm_head" (tied input embeddings are
/// never Linear modules, so they need no entry).
std::vector<std::string> automaticSkipModules();

} // namespace bnb::tools

#endif // BNB_TOOLS_BNBQUANTIZE_LINEARSELECTION_H
