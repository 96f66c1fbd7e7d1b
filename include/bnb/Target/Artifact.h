//===- Artifact.h - compile a model graph into NAME.bnb/ -----------*- C++ -*-===//
//
// The steps of bnb-compile: quantize the weights into the artifact, record
// the entry-point signatures, lower for the target, emit a shared object
// with packed entry wrappers, and write the manifest, atomically.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TARGET_ARTIFACT_H
#define BNB_TARGET_ARTIFACT_H

#include "bnb/Target/Manifest.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <string>
#include <vector>

namespace bnb {

/// What bnb-compile was asked to do.
struct CompileOptions {
  /// Input weights (safetensors); empty for graphs with inline weights.
  std::string weightsPath;
  /// "cpu", "cuda:sm_80" or "cuda:sm_90".
  std::string target = "cpu";
  /// The artifact directory to create.
  std::string outputPath;
  /// Replace an existing artifact.
  bool force = false;
  /// Files the compiler reads besides the weights and tokenizer files (the
  /// graph, the config): the output never is, holds or replaces one.
  std::vector<std::string> inputs;
  /// LLVM optimization level of the host code.
  unsigned optLevel = 2;
  /// The quantization_config as JSON, recorded in the manifest.
  llvm::json::Object config;
  /// For a cuda:* target, also build the entry points for the CPU
  /// (model.cpu.so), which bnb-run uses where there is no GPU.
  bool withCpuBuild = false;
  /// A directory whose tokenizer files the artifact carries; empty: none.
  std::string tokenizerDir;
  /// Print bnb-memory-report's table to stdout.
  bool printMemoryReport = false;
  /// Receives one line per step for progress reports.
  std::function<void(llvm::StringRef)> progress;
};

/// Compiles `module` (whose module attribute `bnb.config` already holds the
/// quantization config) into the artifact `options.outputPath`. Nothing is
/// left behind on failure.
llvm::Error compileArtifact(mlir::ModuleOp module,
                            const CompileOptions &options);

/// The packed-entry symbol of entry point `name`.
std::string entrySymbol(llvm::StringRef name);

} // namespace bnb

#endif // BNB_TARGET_ARTIFACT_H
