//===- SkipModules.h - transformers' module skip rules -------------*- C++ -*-===//
//
// Which linear layers keep their 16-bit weights, with transformers' rules
// (quantizers_utils.should_convert_module): a module is skipped when some
// pattern matches its full name as a regular expression anchored at the start
// (so "model.layers.1" also skips "model.layers.10") or is a suffix of it (so
// "q_proj" skips every q_proj).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_SKIPMODULES_H
#define BNB_DIALECT_BNB_TRANSFORMS_SKIPMODULES_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/Regex.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::bnb {

/// A compiled list of skip patterns.
class SkipList {
public:
  /// Compiles `patterns`; reports an invalid regular expression through
  /// `emitError` and fails.
  static FailureOr<SkipList>
  build(ArrayRef<std::string> patterns,
        function_ref<InFlightDiagnostic()> emitError);

  /// Returns the first pattern that skips `moduleName`, or an empty string.
  StringRef match(StringRef moduleName) const;

  /// The patterns, in order.
  ArrayRef<std::string> getPatterns() const { return patterns; }

private:
  std::vector<std::string> patterns;
  std::vector<std::shared_ptr<llvm::Regex>> regexes;
};

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_TRANSFORMS_SKIPMODULES_H
