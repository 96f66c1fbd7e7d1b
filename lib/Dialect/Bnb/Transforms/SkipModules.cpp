//===- SkipModules.cpp - transformers' module skip rules -------------------===//

#include "bnb/Dialect/Bnb/Transforms/SkipModules.h"

using namespace mlir;
using namespace mlir::bnb;

FailureOr<SkipList>
SkipList::build(ArrayRef<std::string> patterns,
                function_ref<InFlightDiagnostic()> emitError) {
  SkipList list;
  for (const std::string &pattern : patterns) {
    // Python's re.match anchors at the start only.
    auto regex = std::make_shared<llvm::Regex>("^(" + pattern + ")");
    std::string error;
    if (!regex->isValid(error))
      return emitError() << "invalid llm_int8_skip_modules pattern '"
                         << pattern << "': " << error;
    list.patterns.push_back(pattern);
    list.regexes.push_back(std::move(regex));
  }
  return list;
}

StringRef SkipList::match(StringRef moduleName) const {
  for (auto [pattern, regex] : llvm::zip(patterns, regexes))
    if (regex->match(moduleName) || moduleName.ends_with(pattern))
      return pattern;
  return "";
}
