//===- CpuTarget.h - which CPU a model library is generated for ---*- C++ -*-===//
//
// `--target cpu` generates code for the machine bnb-compile runs on (as
// -march=native does); `cpu:x86-64-v3`, `cpu:x86-64-v4`, `cpu:generic` (and
// the other levels below) select a portable level. The manifest records the
// instruction-set features the code may use, and bnb-run refuses an artifact
// that needs a feature the machine lacks. LLVMSupport and LLVMTargetParser
// only, so that bnb-run links it statically.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TARGET_CPUTARGET_H
#define BNB_TARGET_CPUTARGET_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace bnb {

/// The CPU a model library is generated for.
struct CpuTarget {
  /// The level asked for: "native", "generic", "x86-64", "x86-64-v2",
  /// "x86-64-v3" or "x86-64-v4".
  std::string level = "generic";
  /// LLVM's CPU name ("sapphirerapids", "x86-64-v3", "generic", ...).
  std::string cpu = "generic";
  /// LLVM's feature string ("+avx2,+fma,..."); empty for the CPU's own.
  std::string features;
  /// The instruction-set features (LLVM names, from kCheckedCpuFeatures)
  /// the generated code may use; filled by the code generator.
  std::vector<std::string> required;
};

/// The instruction-set features that are recorded in manifests and checked
/// by bnb-run, by LLVM name.
llvm::ArrayRef<llvm::StringRef> checkedCpuFeatures();

/// Parses the CPU part of a --target: "cpu" and "cpu:native" are the host,
/// "cpu:<level>" a portable level. Other strings are an error naming them.
llvm::Expected<CpuTarget> parseCpuTarget(llvm::StringRef target);

/// True for "cpu" and "cpu:<anything>".
inline bool isCpuTarget(llvm::StringRef target) {
  return target == "cpu" || target.starts_with("cpu:");
}

/// The features of `required` this machine lacks (empty when it can run the
/// code).
std::vector<std::string> missingHostCpuFeatures(
    llvm::ArrayRef<std::string> required);

} // namespace bnb

#endif // BNB_TARGET_CPUTARGET_H
