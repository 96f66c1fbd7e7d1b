//===- Artifact.cpp - compile a model graph into NAME.bnb/ -----------------===//

#include "bnb/Target/Artifact.h"

#include "EntrySignatures.h"
#include "SharedObject.h"
#include "bnb/Target/CpuTarget.h"

#include "bnb/Config.h"
#include "bnb/Dialect/Bnb/Transforms/MemoryReport.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/Transforms/PendingWeightsWrite.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "bnb/Pipelines/Pipelines.h"
#include "bnb/Support/BoundedJson.h"
#include "bnb/Support/FileSafety.h"
#include "bnb/Support/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <chrono>
#include <thread>

using namespace mlir;
namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace bnb {
std::string entrySymbol(llvm::StringRef name) {
  return ("bnb_entry_" + name).str();
}
} // namespace bnb

namespace {
/// Runs `pm` on `module`, turning the first error diagnostic into an
/// llvm::Error that names its location.
/// Runs `step` on `module`, turning its first error diagnostic (with its
/// location) into the returned error.
llvm::Error firstErrorOf(ModuleOp module, llvm::StringRef step,
                         llvm::function_ref<LogicalResult()> run) {
  std::string first;
  ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &diag) {
    if (diag.getSeverity() != DiagnosticSeverity::Error || !first.empty())
      return success(diag.getSeverity() != DiagnosticSeverity::Error);
    std::string text;
    llvm::raw_string_ostream os(text);
    if (auto file = dyn_cast<FileLineColLoc>(diag.getLocation()))
      os << file.getFilename().getValue() << ":" << file.getLine() << ":"
         << file.getColumn() << ": ";
    os << diag.str();
    first = text;
    return success();
  });
  if (succeeded(run()))
    return llvm::Error::success();
  return llvm::createStringError(
      first.empty() ? (step + " failed").str() : first);
}

llvm::Error runPasses(PassManager &pm, ModuleOp module, llvm::StringRef step) {
  return firstErrorOf(module, step, [&] { return pm.run(module); });
}

/// The weights file of a graph with no external weights: no tensors.
llvm::Error writeEmptyWeights(llvm::StringRef path) {
  llvm::Expected<std::unique_ptr<::bnb::SafetensorsWriter>> writer =
      ::bnb::SafetensorsWriter::create(path, {}, {{"format", "pt"}});
  if (!writer)
    return writer.takeError();
  return (*writer)->commit();
}

/// The file name of a GPU artifact's CPU build.
constexpr llvm::StringLiteral kCpuModuleFile = "model.cpu.so";

/// Whether bnb-compile knows `target`.
llvm::Error checkTarget(llvm::StringRef target) {
  if (::bnb::isCpuTarget(target)) {
    llvm::Expected<::bnb::CpuTarget> cpu = ::bnb::parseCpuTarget(target);
    return cpu ? llvm::Error::success() : cpu.takeError();
  }
  llvm::StringRef chip = target;
  if (chip.consume_front("cuda:") && (chip == "sm_80" || chip == "sm_90"))
    return llvm::Error::success();
  return llvm::createStringError(
      "unknown target '" + target +
      "' (expected cpu, cpu:<level>, cuda:sm_80 or cuda:sm_90)");
}

/// The lowering pipeline of `target`.
llvm::Error addLowering(OpPassManager &pm, llvm::StringRef target) {
  if (llvm::Error e = checkTarget(target))
    return e;
  if (::bnb::isCpuTarget(target)) {
    mlir::bnb::LowerToCPUPipelineOptions options;
    options.externalizeWeights = false;
    mlir::bnb::buildBnbLowerToCPUPipeline(pm, options);
    return llvm::Error::success();
  }
  llvm::StringRef chip = target.drop_front(strlen("cuda:"));
  const PassPipelineInfo *nvvm = PassPipelineInfo::lookup("bnb-lower-to-nvvm");
  if (!nvvm)
    return llvm::createStringError("this build has no GPU pipeline "
                                   "(bnb-lower-to-nvvm) for '" +
                                   target + "'");
  std::string failure;
  if (failed(nvvm->addToPipeline(
          pm, ("chip=" + chip + " externalize-weights=false").str(),
          [&](const llvm::Twine &msg) {
            failure = msg.str();
            return mlir::failure();
          })))
    return llvm::createStringError("bnb-lower-to-nvvm: " + failure);
  return llvm::Error::success();
}

/// The weights file, written and checksummed on a thread of its own while
/// the module is lowered and compiled: the quantized IR is final before a
/// byte is written, and nothing downstream reads the file.
class WeightsWriteThread {
public:
  /// Starts writing `pending`; `seconds` gives the time for progress.
  WeightsWriteThread(std::unique_ptr<mlir::bnb::PendingWeightsWrite> pending,
                     std::function<double()> seconds)
      : pending(std::move(pending)) {
    thread = std::thread([this, seconds = std::move(seconds)] {
      llvm::Error error = this->pending->write();
      if (!error) {
        llvm::Expected<std::string> sum =
            ::bnb::checksumFile(this->pending->getOutputPath());
        if (sum)
          checksum = std::move(*sum);
        else
          error = sum.takeError();
      }
      result.emplace(std::move(error));
      finishedAt = seconds();
    });
  }

  /// On an early return (a failed lowering), stops the writing and waits.
  ~WeightsWriteThread() {
    if (!thread.joinable())
      return;
    pending->cancel();
    thread.join();
    llvm::consumeError(std::move(*result));
  }

  /// Waits for the file: its checksum, or the write error, located at the
  /// layer op it is about as the pass would have reported it.
  llvm::Expected<std::string> join(ModuleOp module) {
    thread.join();
    if (llvm::Error error = std::move(*result))
      return firstErrorOf(module, "quantization", [&] {
        pending->emit(std::move(error));
        return failure();
      });
    return checksum;
  }

  /// When the file was complete, in the `seconds` clock.
  double getFinishedAt() const { return finishedAt; }

private:
  std::unique_ptr<mlir::bnb::PendingWeightsWrite> pending;
  std::thread thread;
  /// Set by the thread: the write's (or the checksum's) outcome.
  std::optional<llvm::Error> result;
  std::string checksum;
  double finishedAt = 0;
};

/// The manifest's memory plan: the weights file size and the memory
/// report's totals.
llvm::json::Object memoryPlan(llvm::json::Object weightTotals,
                              uint64_t weightsBytes) {
  return llvm::json::Object{{"weights_file_bytes", int64_t(weightsBytes)},
                            {"weights", std::move(weightTotals)}};
}
} // namespace

namespace bnb {
llvm::Error compileArtifact(ModuleOp module, const CompileOptions &o) {
  auto progress = [&](const llvm::Twine &line) {
    if (o.progress)
      o.progress(line.str());
  };
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  };

  // Before any work: a typo in --target should not cost a quantization.
  if (llvm::Error e = checkTarget(o.target))
    return e;
  llvm::SmallString<256> output(o.outputPath);
  if (std::error_code ec = fs::make_absolute(output))
    return llvm::createStringError(ec, "cannot resolve '" + o.outputPath + "'");
  path::remove_dots(output, /*remove_dot_dot=*/true);
  // Never replace an input, a directory holding one, or anything that is
  // not an artifact.
  std::vector<std::string> inputs = o.inputs;
  if (!o.weightsPath.empty())
    inputs.push_back(o.weightsPath);
  if (!o.tokenizerDir.empty())
    inputs.push_back(o.tokenizerDir);
  if (llvm::Error e = ::bnb::checkArtifactOutput(o.outputPath, inputs,
                                                 o.force))
    return e;
  llvm::StringRef parent = path::parent_path(output);
  if (!fs::is_directory(parent))
    return llvm::createStringError("the directory of '" + o.outputPath +
                                   "' does not exist");
  // Built in NAME.bnb.tmp-XXXXXX (a name bnb-run refuses), removed on every
  // failure path, signals and fatal errors included.
  llvm::Expected<std::unique_ptr<::bnb::TempDirectory>> tempDir =
      ::bnb::TempDirectory::create(output);
  if (!tempDir)
    return tempDir.takeError();
  llvm::SmallString<256> temp((*tempDir)->path());
  auto inTemp = [&](llvm::StringRef name) {
    llvm::SmallString<256> file(temp);
    path::append(file, name);
    return file.str().str();
  };
  std::string weightsFile = inTemp("weights.safetensors");

  // 1. Replace the linears and plan their quantization; the weights go into
  // the artifact on a thread of their own while steps 2-3 run.
  progress("quantizing weights");
  std::unique_ptr<mlir::bnb::PendingWeightsWrite> pending;
  {
    PassManager pm(module.getContext());
    mlir::bnb::QuantizePipelineOptions quantize;
    quantize.weightsPath = o.weightsPath;
    quantize.outputPath = weightsFile;
    mlir::bnb::buildBnbQuantizePipeline(pm, quantize, &pending);
    if (llvm::Error e = runPasses(pm, module, "quantization"))
      return e;
  }
  std::optional<WeightsWriteThread> weightsWrite;
  if (pending)
    weightsWrite.emplace(std::move(pending), elapsed);
  else if (llvm::Error e = writeEmptyWeights(weightsFile))
    return e;
  {
    PassManager pm(module.getContext());
    pm.addPass(mlir::bnb::createBnbExternalizeWeights());
    pm.addPass(mlir::bnb::createBnbPrepareEntryPoints());
    if (o.printMemoryReport)
      pm.addPass(mlir::bnb::createBnbMemoryReport());
    if (llvm::Error e = runPasses(pm, module, "quantization"))
      return e;
  }
  // The memory plan of the manifest, from the quantized graph.
  llvm::json::Object weightTotals;
  if (llvm::Error e = firstErrorOf(module, "memory report", [&] {
        mlir::bnb::MemoryReport report(module);
        weightTotals = report.totalsJson();
        return failure(report.failed());
      }))
    return e;

  llvm::Expected<std::vector<::bnb::EntryPoint>> entries =
      ::bnb::collectEntryPoints(module);
  if (!entries)
    return entries.takeError();

  // 2-3. Lower for each build and emit its shared object: the target's, and
  // for a GPU target with a CPU build, the CPU's from a copy of the
  // quantized module (both take the same weights).
  std::optional<::bnb::CpuBuild> cpuBuild;
  auto build = [&](ModuleOp quantized, llvm::StringRef target,
                   llvm::StringRef file) -> llvm::Error {
    progress("lowering for " + target);
    PassManager pm(quantized.getContext());
    if (llvm::Error e = addLowering(pm, target))
      return e;
    if (llvm::Error e = runPasses(pm, quantized, "lowering"))
      return e;
    progress(llvm::formatv("lowered ({0:f1}s)", elapsed()));
    // A GPU artifact's host code, and its CPU build, run on whatever
    // machine has the GPU: portable code. The microkernels of the runtime
    // pick their instruction set at run time either way.
    llvm::Expected<::bnb::CpuTarget> cpu = ::bnb::parseCpuTarget(
        ::bnb::isCpuTarget(target) ? target : llvm::StringRef("cpu:generic"));
    if (!cpu)
      return cpu.takeError();
    if (llvm::Error e = ::bnb::emitSharedObject(quantized, *entries,
                                                o.optLevel, inTemp(file), *cpu))
      return e;
    if (::bnb::isCpuTarget(target) || file == kCpuModuleFile)
      cpuBuild = ::bnb::CpuBuild{cpu->level, cpu->cpu, cpu->required};
    progress(llvm::formatv("emitted {0} ({1:f1}s)", file, elapsed()));
    return llvm::Error::success();
  };
  bool withCpu = o.withCpuBuild && !::bnb::isCpuTarget(o.target);
  if (withCpu) {
    OwningOpRef<ModuleOp> cpuModule(module.clone());
    if (llvm::Error e = build(*cpuModule, "cpu:generic", kCpuModuleFile))
      return e;
  }
  if (llvm::Error e = build(module, o.target, "model.so"))
    return e;

  std::optional<std::string> weightsChecksum;
  if (weightsWrite) {
    llvm::Expected<std::string> sum = weightsWrite->join(module);
    if (!sum)
      return sum.takeError();
    weightsChecksum = *sum;
    progress(llvm::formatv("quantized weights ({0:f1}s)",
                           weightsWrite->getFinishedAt()));
  } else {
    progress(llvm::formatv("quantized weights ({0:f1}s)", elapsed()));
  }

  // 4. The manifest.
  ::bnb::Manifest manifest;
  manifest.compilerVersion = BNB_VERSION_STRING;
  manifest.llvmVersion = LLVM_VERSION_STRING;
  manifest.target = ::bnb::isCpuTarget(o.target) ? "cpu" : o.target;
  manifest.cpuBuild = cpuBuild;
  manifest.config = o.config;
  manifest.entryPoints = std::move(*entries);
  if (withCpu)
    manifest.cpuModuleFile = kCpuModuleFile;
  uint64_t weightsBytes = 0;
  fs::file_size(weightsFile, weightsBytes);
  manifest.memoryPlan = memoryPlan(std::move(weightTotals), weightsBytes);
  // The tokenizer files, copied as they are (bnb-run checks their sums).
  for (llvm::StringRef name :
       {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "generation_config.json", "chat_template.jinja"}) {
    if (o.tokenizerDir.empty())
      break;
    llvm::SmallString<256> from(o.tokenizerDir);
    path::append(from, name);
    if (!fs::is_regular_file(from))
      continue;
    if (std::error_code ec = fs::copy_file(from, inTemp(name)))
      return llvm::createStringError(ec, "cannot copy '" + from +
                                             "': " + ec.message());
    manifest.tokenizerFiles.push_back(name.str());
  }
  if (!o.tokenizerDir.empty() && manifest.tokenizerFiles.empty())
    return llvm::createStringError("'" + o.tokenizerDir +
                                   "' has no tokenizer files");
  std::vector<std::string> files = {manifest.moduleFile, manifest.weightsFile,
                                    manifest.cpuModuleFile};
  llvm::append_range(files, manifest.tokenizerFiles);
  for (llvm::StringRef file : files) {
    if (file.empty())
      continue;
    if (file == manifest.weightsFile && weightsChecksum) {
      manifest.checksums.push_back({file.str(), *weightsChecksum});
      continue;
    }
    llvm::Expected<std::string> sum = ::bnb::checksumFile(inTemp(file));
    if (!sum)
      return sum.takeError();
    manifest.checksums.push_back({file.str(), *sum});
  }
  // The manifest last: a directory without one is no artifact.
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(inTemp("manifest.json"), ec);
    if (ec)
      return llvm::createStringError(ec, "cannot write the manifest: " +
                                             ec.message());
    os << llvm::formatv("{0:2}", ::bnb::toJson(manifest)) << "\n";
    os.close();
    if (os.has_error()) {
      ec = os.error();
      os.clear_error();
      return llvm::createStringError(ec, "cannot write the manifest: " +
                                             ec.message());
    }
  }

  // 5. Publish: the artifact appears complete or not at all; an old one is
  // replaced atomically.
  if (llvm::Error e = (*tempDir)->commit(output))
    return e;
  progress(llvm::formatv("wrote {0} ({1:f1}s)", o.outputPath, elapsed()));
  return llvm::Error::success();
}
} // namespace bnb
