//===- bnb-run.cpp - run a compiled bnb artifact ---------------------------===//
//
// Runs an entry point of NAME.bnb/ on the CPU or a CUDA GPU. It validates
// the manifest (format version, checksums, tensor signatures), maps the
// weights, reads the inputs from a safetensors file, calls the compiled
// module through libbnb_runtime and writes the outputs atomically. It loads
// no LLVM or MLIR library at run time.
//
//===----------------------------------------------------------------------===//

#include "Generate.h"
#include "Session.h"
#include "bnb/Target/MemrefArgs.h"

#include "bnb/Config.h"
#include "bnb/Support/Escape.h"
#include "bnb/Support/FileSafety.h"
#include "bnb/Support/Safetensors.h"
#include "bnb/Support/ToolCommandLine.h"
#include "bnb/Target/CpuTarget.h"
#include "bnb/Target/Manifest.h"
#include "bnb_ukernels.h"
#include "bnb_runtime.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstring>
#include <dlfcn.h>
#include <map>

using namespace bnb;
namespace cl = llvm::cl;

static cl::opt<std::string> artifactPath(cl::Positional, cl::Required,
                                         cl::desc("<NAME.bnb>"));
static cl::opt<std::string>
    inputPath("input",
              cl::desc("Input tensors (safetensors), named as the manifest's "
                       "entry-point inputs"));
static cl::opt<std::string>
    outputPath("output",
               cl::desc("Where to write the outputs (safetensors)"));
static cl::opt<std::string>
    deviceName("device", cl::desc("cuda or cpu (default: the artifact's "
                                  "target)"));
static cl::opt<std::string> entryName("entry", cl::init("forward"),
                                      cl::desc("Entry point to run"));
static cl::opt<bool>
    report("report", cl::desc("Print memory accounting and timings"));
static cl::opt<unsigned>
    threads("threads", cl::init(0),
            cl::desc("Threads of the CPU microkernels (default: "
                     "BNB_NUM_THREADS, else every CPU this process may use)"));
static cl::opt<unsigned>
    repeat("repeat", cl::init(1),
           cl::desc("Run the entry point this many times (timings report "
                    "every run)"));

static cl::OptionCategory generation("Generation (--generate)");
static cl::opt<bool> generateMode(
    "generate",
    cl::desc("Generate tokens with the artifact's prefill and decode entry "
             "points instead of running one entry point on --input"),
    cl::cat(generation));
static cl::list<int64_t>
    promptIds("prompt-ids", cl::CommaSeparated,
              cl::desc("Prompt token ids (comma separated)"),
              cl::cat(generation));
static cl::opt<int64_t> maxNewTokens("max-new-tokens", cl::init(32),
                                     cl::desc("Tokens to generate at most"),
                                     cl::cat(generation));
static cl::opt<double>
    temperature("temperature", cl::init(0.0),
                cl::desc("0 for greedy decoding, else the sampling "
                         "temperature"),
                cl::cat(generation));
static cl::opt<int64_t> topK("top-k", cl::init(0),
                             cl::desc("Sample from the k most likely tokens "
                                      "(0: all)"),
                             cl::cat(generation));
static cl::opt<double> topP("top-p", cl::init(1.0),
                            cl::desc("Nucleus sampling mass, in (0, 1]"),
                            cl::cat(generation));
static cl::opt<uint64_t> seed("seed", cl::init(0),
                              cl::desc("Seed of the sampler"),
                              cl::cat(generation));
static cl::list<int64_t>
    stopIds("stop-ids", cl::CommaSeparated,
            cl::desc("Token ids that end generation (comma separated)"),
            cl::cat(generation));

using namespace bnb::tools;

namespace {

/// The input tensor for `spec`: by name, or the only tensor of a file for a
/// single-input entry point.
llvm::Expected<const SafetensorsTensor *>
findInput(const SafetensorsFile &file, const EntryPoint &entry,
          const TensorSpec &spec) {
  const SafetensorsTensor *tensor = file.lookup(spec.name);
  if (!tensor && entry.inputs.size() == 1 && file.tensors().size() == 1)
    tensor = &file.tensors().front();
  if (!tensor)
    return failure(file.path() + ": no input tensor '" + spec.name +
                   "' (entry point '" + entry.name + "' expects " +
                   describe(spec.dtype, spec.shape) + ")");
  if (tensor->dtype != spec.dtype ||
      llvm::ArrayRef<int64_t>(tensor->shape) != llvm::ArrayRef(spec.shape))
    return failure(file.path() + ": input '" + spec.name + "' is " +
                   describe(tensor->dtype, tensor->shape) + ", expected " +
                   describe(spec.dtype, spec.shape));
  if (spec.vocabSize)
    if (llvm::Error error =
            checkTokenIds(file, *tensor, spec.name, *spec.vocabSize))
      return std::move(error);
  return tensor;
}

/// The runtime's memory accounting of the pool bnb-run used.
void printMemory(bool cuda) {
  llvm::raw_ostream &os = llvm::outs();
  int pool = cuda ? BNBRT_POOL_DEVICE : BNBRT_POOL_HOST;
  os << "memory (" << (cuda ? "device" : "host") << "):\n";
  os << llvm::formatv("  {0,-14} {1,14} {2,14}\n", "category", "current",
                      "peak");
  for (int category : {BNBRT_CATEGORY_WEIGHTS, BNBRT_CATEGORY_ACTIVATIONS,
                       BNBRT_CATEGORY_WORKSPACE, BNBRT_CATEGORY_KV_CACHE,
                       BNBRT_CATEGORY_CONSTANTS})
    os << llvm::formatv("  {0,-14} {1,14} {2,14}\n",
                        bnbrt_category_name(category),
                        bnbrt_memory_current(pool, category),
                        bnbrt_memory_peak(pool, category));
  os << llvm::formatv("  {0,-14} {1,14} {2,14}\n", "total",
                      bnbrt_memory_current(pool, BNBRT_CATEGORY_TOTAL),
                      bnbrt_memory_peak(pool, BNBRT_CATEGORY_TOTAL));
}

void printReport(bool cuda, uint64_t mappedWeights,
                 llvm::ArrayRef<double> runMs) {
  llvm::raw_ostream &os = llvm::outs();
  printMemory(cuda);
  if (!cuda)
    os << llvm::formatv("  weights mapped from the artifact: {0} bytes\n",
                        mappedWeights);
  else
    os << llvm::formatv("  device cache (freed blocks kept for reuse, not "
                        "counted above): {0} bytes in {1} blocks\n",
                        bnbrt_device_cache_bytes(),
                        bnbrt_device_cache_blocks());
  os << "timings:\n";
  for (auto [i, ms] : llvm::enumerate(runMs))
    os << llvm::formatv("  run {0}: {1:f3} ms\n", i, ms);
  if (cuda) {
    size_t count = bnbrt_kernel_stats_count();
    for (size_t i = 0; i < count; ++i) {
      bnbrt_kernel_stats stats;
      if (bnbrt_get_kernel_stats(i, &stats) == 0)
        os << llvm::formatv("  kernel {0,-40} {1,6} launches {2,10:f3} ms\n",
                            stats.name, stats.launches, stats.total_ms);
    }
  }
}

/// Loads and validates the manifest of the artifact.
llvm::Expected<Manifest> loadManifest() {
  // bnb-compile builds an artifact under NAME.bnb.tmp-XXXXXX; one found
  // there is the remains of an interrupted compile.
  if (isTemporaryDirectoryName(artifactPath))
    return failure("'" + artifactPath +
                   "' is the temporary directory of an unfinished "
                   "bnb-compile, not an artifact");
  llvm::SmallString<256> manifestPath(artifactPath);
  llvm::sys::path::append(manifestPath, "manifest.json");
  if (llvm::Error error = checkRegularInput(manifestPath))
    return std::move(error);
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> text =
      llvm::MemoryBuffer::getFile(manifestPath);
  if (!text)
    return failure("cannot read '" + manifestPath +
                   "': " + text.getError().message());
  llvm::Expected<Manifest> manifest =
      parseManifest((*text)->getBuffer(), manifestPath);
  if (!manifest)
    return manifest.takeError();
  if (llvm::Error error = verifyChecksums(*manifest, artifactPath))
    return std::move(error);
  return manifest;
}

/// Runs the entry point; every runtime buffer is released on return.
llvm::Error run(const Manifest &manifest, const EntryPoint &entry, bool cuda,
                void *&handle) {
  llvm::SmallString<256> weightsPath(artifactPath);
  llvm::sys::path::append(weightsPath, manifest.weightsFile);
  llvm::Expected<SafetensorsFile> weights = SafetensorsFile::open(weightsPath);
  if (!weights)
    return weights.takeError();
  llvm::Expected<SafetensorsFile> inputs = SafetensorsFile::open(inputPath);
  if (!inputs)
    return inputs.takeError();

  Allocations allocs(cuda);
  MemrefArgs args;
  uint64_t mappedWeights = 0;
  bnbrt_set_category(BNBRT_CATEGORY_ACTIVATIONS);
  for (const TensorSpec &spec : entry.inputs) {
    if (spec.kvCache && !inputs->lookup(spec.name)) {
      // State the entry point updates in place: zeros unless given.
      void *cache = allocs.allocate(spec.numBytes(), BNBRT_CATEGORY_KV_CACHE,
                                    64);
      if (llvm::Error error =
              checkRuntime("cannot allocate '" + spec.name + "'"))
        return error;
      cuda ? (void)bnbrt_memset(cache, 0, spec.numBytes())
           : (void)std::memset(cache, 0, spec.numBytes());
      args.add(cache, spec.shape);
      continue;
    }
    llvm::Expected<const SafetensorsTensor *> tensor =
        findInput(*inputs, entry, spec);
    if (!tensor)
      return tensor.takeError();
    if (spec.kvCache && !cuda) {
      // Updated in place: a writable copy, never the read-only mapping.
      llvm::ArrayRef<uint8_t> bytes = inputs->bytes(**tensor);
      void *cache =
          allocs.allocate(bytes.size(), BNBRT_CATEGORY_KV_CACHE, 64);
      if (llvm::Error error =
              checkRuntime("cannot allocate '" + spec.name + "'"))
        return error;
      std::memcpy(cache, bytes.data(), bytes.size());
      args.add(cache, spec.shape);
      continue;
    }
    llvm::Expected<void *> ptr =
        stage(allocs, cuda, inputs->bytes(**tensor),
              ::bnb::dtypeSize(spec.dtype),
              spec.kvCache ? BNBRT_CATEGORY_KV_CACHE
                           : BNBRT_CATEGORY_ACTIVATIONS,
              spec.name);
    if (!ptr)
      return ptr.takeError();
    args.add(*ptr, spec.shape);
  }
  bnbrt_set_category(BNBRT_CATEGORY_WEIGHTS);
  for (const TensorSpec &spec : entry.weights) {
    llvm::Expected<const SafetensorsTensor *> tensor =
        findWeight(*weights, spec);
    if (!tensor)
      return tensor.takeError();
    mappedWeights += (*tensor)->numBytes();
    llvm::Expected<void *> ptr =
        stage(allocs, cuda, weights->bytes(**tensor),
              ::bnb::dtypeSize(spec.dtype), BNBRT_CATEGORY_WEIGHTS, spec.name);
    if (!ptr)
      return ptr.takeError();
    args.add(*ptr, spec.shape);
  }
  bnbrt_set_category(BNBRT_CATEGORY_ACTIVATIONS);
  std::vector<void *> outputs;
  for (const TensorSpec &spec : entry.outputs) {
    void *ptr = allocs.allocate(spec.numBytes(), BNBRT_CATEGORY_ACTIVATIONS, 64);
    if (llvm::Error error =
            checkRuntime("cannot allocate output '" + spec.name + "'"))
      return error;
    outputs.push_back(ptr);
    args.add(ptr, spec.shape);
  }

  llvm::Expected<void *> module =
      loadModule(manifest, artifactPath, cuda, threads);
  if (!module)
    return module.takeError();
  handle = *module;
  llvm::Expected<EntryFn> fn = lookupEntry(handle, entry, manifest, cuda);
  if (!fn)
    return fn.takeError();

  std::vector<double> runMs;
  for (unsigned i = 0; i < std::max(1u, unsigned(repeat)); ++i) {
    auto start = std::chrono::steady_clock::now();
    (*fn)(args.pointers());
    if (cuda)
      bnbrt_synchronize();
    auto stop = std::chrono::steady_clock::now();
    runMs.push_back(
        std::chrono::duration<double, std::milli>(stop - start).count());
    if (llvm::Error error =
            checkRuntime("running '" + entry.name + "' failed"))
      return error;
  }

  // Outputs, written atomically.
  std::vector<SafetensorsTensorDecl> decls;
  for (const TensorSpec &spec : entry.outputs)
    decls.push_back({spec.name, spec.dtype, spec.shape});
  llvm::Expected<std::unique_ptr<SafetensorsWriter>> writer =
      SafetensorsWriter::create(outputPath, decls, {{"format", "pt"}});
  if (!writer)
    return writer.takeError();
  for (auto [spec, ptr] : llvm::zip(entry.outputs, outputs)) {
    std::vector<uint8_t> host(spec.numBytes());
    if (cuda) {
      if (!host.empty())
        bnbrt_memcpy_d2h(host.data(), ptr, host.size());
      if (llvm::Error error =
              checkRuntime("cannot download output '" + spec.name + "'"))
        return error;
    } else if (!host.empty()) {
      std::memcpy(host.data(), ptr, host.size());
    }
    if (llvm::Error error = (*writer)->write(spec.name, host))
      return error;
  }
  if (llvm::Error error = (*writer)->commit())
    return error;
  if (report)
    printReport(cuda, mappedWeights, runMs);
  return llvm::Error::success();
}

/// Refuses an --input that is not a regular file, and an --output that is
/// the input, lies inside the artifact or is not a regular file, before any
/// work.
llvm::Error checkFiles() {
  if (llvm::Error error = checkRegularInput(inputPath))
    return error;
  if (llvm::Error error = checkOutputFile(outputPath, {inputPath}))
    return error;
  llvm::SmallString<256> outputDir(outputPath);
  if (llvm::sys::fs::make_absolute(outputDir))
    return llvm::Error::success();
  llvm::sys::path::remove_filename(outputDir);
  if (findSameFile(outputDir, {artifactPath}))
    return failure("'" + outputPath + "' is inside the artifact '" +
                   artifactPath + "'; write the outputs elsewhere");
  return llvm::Error::success();
}

llvm::Error runArtifact() {
  if (generateMode ? promptIds.empty()
                   : inputPath.empty() || outputPath.empty())
    return failure(generateMode
                       ? "--generate needs --prompt-ids"
                       : "--input and --output are required (or --generate)");
  if (!generateMode)
    if (llvm::Error error = checkFiles())
      return error;
  llvm::Expected<Manifest> manifest = loadManifest();
  if (!manifest)
    return manifest.takeError();
  const EntryPoint *entry = manifest->lookup(entryName);
  if (!entry && !generateMode)
    return failure(artifactPath + "/manifest.json: no entry point '" +
                   entryName + "'");
  std::string device = deviceName;
  char noGpu[512] = {0};
  if (device.empty()) {
    // The artifact's target; its CPU build where there is no GPU.
    device = manifest->isCuda() ? "cuda" : "cpu";
    if (manifest->isCuda() && manifest->hasCpuBuild() &&
        !bnbrt_cuda_available(noGpu, sizeof(noGpu))) {
      llvm::errs() << "bnb-run: " << noGpu << "; running the CPU build\n";
      device = "cpu";
    }
  }
  if (device != "cuda" && device != "cpu")
    return failure("--device must be cuda or cpu, got '" + device + "'");
  bool cuda = device == "cuda";
  if (cuda ? !manifest->isCuda() : !manifest->hasCpuBuild())
    return failure(artifactPath + " was compiled for " + manifest->target +
                   (cuda ? "" : " without a CPU build (--with-cpu)") +
                   " and cannot run on --device " + device);
  if (cuda) {
    char message[512] = {0};
    if (!bnbrt_cuda_available(message, sizeof(message)))
      return failure(message);
    if (bnbrt_set_device(0) != 0)
      return failure(llvm::Twine("cannot use CUDA device 0: ") +
                     (bnbrt_last_error() ? bnbrt_last_error() : "unknown"));
    bnbrt_set_profiling(report ? 1 : 0);
  }
  void *handle = nullptr;
  llvm::Error result = llvm::Error::success();
  if (generateMode) {
    GenerateOptions options;
    options.promptIds.assign(promptIds.begin(), promptIds.end());
    options.maxNewTokens = maxNewTokens;
    options.sampling.temperature = temperature;
    options.sampling.topK = topK;
    options.sampling.topP = topP;
    options.sampling.seed = seed;
    options.stopIds.assign(stopIds.begin(), stopIds.end());
    options.threads = threads;
    options.report = report;
    result = generate(*manifest, artifactPath, cuda, options);
  } else {
    result = run(*manifest, *entry, cuda, handle);
  }
  if (handle)
    dlclose(handle);
  // After a failure the accounting shows what is still held: nothing.
  if (result && report) {
    llvm::outs() << "after the error, ";
    printMemory(cuda);
  }
  // Nothing may stay allocated, whether the run succeeded or not.
  if (uint64_t leaked = bnbrt_outstanding_allocations()) {
    bnbrt_leak_report(stderr);
    result = llvm::joinErrors(
        std::move(result),
        failure(llvm::formatv("{0} runtime allocations are still outstanding",
                              leaked)));
  }
  return result;
}
} // namespace

int main(int argc, char **argv) {
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "bnb-run (bnb-mlir " << BNB_VERSION_STRING << ", LLVM "
       << LLVM_VERSION_STRING << ")\n";
  });
  if (!bnb::parseToolCommandLine(argc, argv, "run a compiled bnb artifact\n"))
    return 1;
  bnbrt_set_leak_report_at_exit(0);
  if (llvm::Error error = runArtifact()) {
    llvm::errs() << "error: "
                 << bnb::escapeForMessage(llvm::toString(std::move(error)))
                 << "\n";
    return 1;
  }
  return 0;
}
