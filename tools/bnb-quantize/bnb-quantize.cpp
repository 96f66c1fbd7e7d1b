//===- bnb-quantize.cpp - offline bitsandbytes checkpoint quantizer -------===//
//
// Quantizes the linear weights of a safetensors checkpoint the way
// transformers + bitsandbytes would for a BitsAndBytesConfig, and writes the
// file they would save: bitsandbytes' keys, dtypes, shapes and bytes. Every
// other tensor is copied unchanged. Tensors are processed one at a time from
// the memory-mapped input into a streaming writer, so memory stays around one
// tensor; the output appears atomically or not at all.
//
//===----------------------------------------------------------------------===//

#include "LinearSelection.h"
#include "bnb/Quant/QuantConfig.h"

#include "bnb/Config.h"
#include "bnb/Quant/Blockwise.h"
#include "bnb/Quant/BnbStateDict.h"
#include "bnb/Support/BoundedJson.h"
#include "bnb/Support/Escape.h"
#include "bnb/Support/ToolCommandLine.h"
#include "bnb/Support/FileSafety.h"
#include "bnb/Support/Safetensors.h"
#include "bnb/Support/ShardedSafetensors.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Timer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

using namespace bnb;
using namespace bnb::quant;
using namespace bnb::tools;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace cl = llvm::cl;

namespace {

cl::OptionCategory category("bnb-quantize options");

cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                               cl::desc("<input.safetensors or model.safetensors.index.json>"),
                               cl::cat(category));
cl::opt<std::string> outputPath("o", cl::Required,
                                cl::desc("Output safetensors file"),
                                cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> configPath(
    "config", cl::Required,
    cl::desc("BitsAndBytesConfig JSON (to_dict() output, or a config.json "
             "with a \"quantization_config\" object)"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<bool> force("force", cl::desc("Overwrite an existing output file"),
                    cl::cat(category));
cl::opt<int> blocksize(
    "blocksize", cl::init(64),
    cl::desc("4-bit blocksize (bitsandbytes' default 64; transformers has no "
             "option for it)"),
    cl::cat(category));
cl::opt<std::string> linearRegex(
    "linear-regex",
    cl::desc("Treat exactly the 2-D float tensors whose whole key matches this "
             "POSIX extended regex as linear weights"),
    cl::value_desc("regex"), cl::cat(category));
cl::opt<std::string> linearKeysPath(
    "linear-keys",
    cl::desc("File listing the linear layers, one module name (or weight "
             "key) per line"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<cl::boolOrDefault> conv1d(
    "conv1d",
    cl::desc("Weights are GPT-2 Conv1D [in, out] and are transposed first "
             "(default: on iff a config.json beside the input names a GPT-2 "
             "model_type)"),
    cl::cat(category));
cl::opt<bool> quiet("quiet", cl::desc("No per-tensor progress"),
                    cl::cat(category));
cl::alias quietShort("q", cl::aliasopt(quiet), cl::desc("Alias for --quiet"),
                     cl::cat(category));

/// --threads. libLLVM already registers a cl::opt<int> named "threads" (a
/// second registration aborts), so the tool adopts that option; it registers
/// its own only when the library has none.
cl::opt<int> &threadsOption() {
  static cl::opt<int> *option = [] {
    auto &options = cl::getRegisteredOptions();
    auto it = options.find("threads");
    cl::opt<int> *found = it == options.end()
                              ? nullptr
                              : dynamic_cast<cl::opt<int> *>(it->second);
    if (!found) {
      static cl::opt<int> own("threads", cl::init(0));
      found = &own;
    }
    found->setDescription("Worker threads (default: all hardware threads)");
    found->setValueStr("N");
    found->addCategory(category);
    return found;
  }();
  return *option;
}

Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string formatBytes(uint64_t bytes) {
  std::string out;
  llvm::raw_string_ostream os(out);
  if (bytes < 10000)
    os << bytes << " B";
  else if (bytes < 10000000)
    os << llvm::format("%.1f kB", bytes / 1e3);
  else if (bytes < 10000000000ull)
    os << llvm::format("%.1f MB", bytes / 1e6);
  else
    os << llvm::format("%.2f GB", bytes / 1e9);
  return out;
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// How one input tensor becomes output tensors.
struct Plan {
  const SafetensorsTensor *tensor = nullptr;
  enum Kind { Copy, FourBit, EightBit } kind = Copy;
  bool transpose = false;
  std::string prefix; // module name + "."
  /// 4-bit with double quant: the offset, computed ahead of the header.
  std::optional<float> nestedOffset;
};

/// The weight as a row-major [out, in] matrix: the mapped bytes, or a
/// transposed copy of a Conv1D [in, out] weight.
llvm::ArrayRef<uint8_t> weightBytes(const ShardedSafetensors &file,
                                    const Plan &plan,
                                    std::vector<uint8_t> &storage) {
  llvm::ArrayRef<uint8_t> bytes = file.bytes(*plan.tensor);
  if (!plan.transpose)
    return bytes;
  size_t rows = plan.tensor->shape[0], cols = plan.tensor->shape[1];
  size_t item = dtypeSize(plan.tensor->dtype);
  storage.resize(bytes.size());
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c)
      std::memcpy(&storage[(c * rows + r) * item],
                  &bytes[(r * cols + c) * item], item);
  return storage;
}

/// The [out, in] shape after an optional transpose.
llvm::SmallVector<int64_t, 4> weightShape(const Plan &plan) {
  llvm::SmallVector<int64_t, 4> shape = plan.tensor->shape;
  if (plan.transpose)
    std::swap(shape[0], shape[1]);
  return shape;
}

struct Totals {
  uint64_t inputBytes = 0;
  uint64_t outputBytes = 0;
  uint64_t footprintAfter = 0;
  unsigned fourBit = 0, eightBit = 0, copied = 0;
};

Error writeStateTensors(SafetensorsWriter &writer,
                        const std::vector<StateTensor> &tensors,
                        uint64_t &written) {
  for (const StateTensor &t : tensors) {
    if (Error err = writer.write(t.key, t.bytes))
      return err;
    written += t.bytes.size();
  }
  return Error::success();
}

Error run() {
  // Inputs are regular files (a FIFO or device would hang the reader); the
  // output is none of them (by device and inode, also through links), is a
  // regular file if it exists, and replaces one only with --force.
  std::vector<std::string> inputs = {inputPath, configPath, linearKeysPath};
  for (const std::string &input : inputs)
    if (Error err = bnb::checkRegularInput(input))
      return err;
  if (Error err = bnb::checkOutputFile(outputPath, inputs))
    return err;
  if (llvm::sys::fs::exists(outputPath) && !force)
    return makeError("output file '" + outputPath +
                     "' exists; pass --force to overwrite it");

  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> configText =
      llvm::MemoryBuffer::getFile(configPath, /*IsText=*/true);
  if (!configText)
    return makeError("'" + configPath +
                     "': cannot open: " + configText.getError().message());
  std::vector<std::string> notes;
  Expected<QuantConfig> config =
      parseQuantConfig((*configText)->getBuffer(), configPath, notes);
  if (!config)
    return config.takeError();
  if (!quiet)
    for (const std::string &note : notes)
      llvm::WithColor::note() << note << "\n";
  if (config->loadIn4bit && !isValid4bitBlocksize(blocksize))
    return makeError("--blocksize " + llvm::Twine(blocksize.getValue()) +
                     " is not one of 32, 64, 128, 256, 512, 1024, 2048, 4096");

  Expected<ShardedSafetensors> input = ShardedSafetensors::open(inputPath);
  if (!input)
    return input.takeError();
  // A sharded checkpoint: its shards are inputs too, never the output.
  std::vector<std::string> shardPaths;
  for (const SafetensorsFile &shard : input->shards())
    shardPaths.push_back(shard.path().str());
  if (Error err = bnb::checkOutputFile(outputPath, shardPaths))
    return err;
  // Every tensor, shard by shard in index order (one output file).
  std::vector<const SafetensorsTensor *> inputTensors;
  for (const SafetensorsFile &shard : input->shards())
    for (const SafetensorsTensor &tensor : shard.tensors())
      if (input->lookup(tensor.name) == &tensor)
        inputTensors.push_back(&tensor);

  SelectionOptions selection;
  selection.skipModules = config->llmInt8SkipModules;
  if (!linearRegex.empty())
    selection.linearRegex = linearRegex;
  if (!linearKeysPath.empty()) {
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> keys =
        llvm::MemoryBuffer::getFile(linearKeysPath, /*IsText=*/true);
    if (!keys)
      return makeError("'" + linearKeysPath +
                       "': cannot open: " + keys.getError().message());
    llvm::StringSet<> set;
    llvm::SmallVector<StringRef> lines;
    (*keys)->getBuffer().split(lines, '\n');
    for (StringRef line : lines)
      if (!line.trim().empty())
        set.insert(line.trim());
    selection.linearKeys = std::move(set);
  }
  if (conv1d == cl::BOU_UNSET) {
    // A GPT-2 style checkpoint directory: config.json beside the weights.
    llvm::SmallString<256> modelConfig(inputPath);
    llvm::sys::path::remove_filename(modelConfig);
    llvm::sys::path::append(modelConfig, "config.json");
    auto text = llvm::sys::fs::is_regular_file(modelConfig)
                    ? llvm::MemoryBuffer::getFile(modelConfig, true)
                    : llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>>(
                          std::make_error_code(std::errc::invalid_argument));
    if (text) {
      if (Expected<llvm::json::Value> json =
              bnb::parseBoundedJson((*text)->getBuffer())) {
        const llvm::json::Object *object = json->getAsObject();
        std::optional<StringRef> type =
            object ? object->getString("model_type") : std::nullopt;
        if (type && (*type == "gpt2" || *type == "openai-gpt")) {
          selection.conv1d = true;
          if (!quiet)
            llvm::WithColor::note()
                << "'" << modelConfig << "' has model_type '" << *type
                << "': linear weights are Conv1D [in, out] and are transposed "
                   "(--conv1d=false to disable)\n";
        }
      } else {
        llvm::consumeError(json.takeError());
      }
    }
  } else {
    selection.conv1d = conv1d == cl::BOU_TRUE;
  }
  Expected<LinearSelector> selector = LinearSelector::create(selection);
  if (!selector)
    return selector.takeError();

  std::unique_ptr<llvm::ThreadPoolInterface> pool;
  cl::opt<int> &threads = threadsOption();
  if (threads.getNumOccurrences() && threads <= 0)
    return makeError("--threads must be at least 1");
  unsigned threadCount =
      threads.getNumOccurrences()
          ? static_cast<unsigned>(threads.getValue())
          : llvm::hardware_concurrency().compute_thread_count();
  if (threadCount > 1)
    pool = std::make_unique<llvm::StdThreadPool>(
        llvm::hardware_concurrency(threadCount));

  // Plan every tensor and declare the output layout.
  std::vector<Plan> plans;
  std::vector<SafetensorsTensorDecl> decls;
  Totals totals;
  for (const SafetensorsTensor *tensorPtr : inputTensors) {
    const SafetensorsTensor &tensor = *tensorPtr;
    totals.inputBytes += tensor.numBytes();
    Plan plan;
    plan.tensor = &tensor;
    Selection s = selector->classify(tensor);
    if (s.quantize && config->loadIn8bit && config->llmInt8HasFp16Weight) {
      s.quantize = false;
      s.reason = "kept in floating point (llm_int8_has_fp16_weight)";
    }
    if (!s.reason.empty() && !quiet)
      llvm::WithColor::note()
          << "'" << bnb::escapeForMessage(tensor.name)
          << "' is not quantized: " << s.reason << "\n";
    // LLM.int8() takes the absmax of every row: bitsandbytes fails on rows
    // of no element, and their SCB would take a float each (4 TiB for 2^40
    // rows) -- refused before anything is sized by the row count.
    if (s.quantize && config->loadIn8bit && tensor.numElements() == 0 &&
        tensor.shape.size() == 2 && tensor.shape[s.transpose ? 1 : 0] != 0)
      return makeError("'" + bnb::escapeForMessage(inputPath) +
                       "': linear weight '" +
                       bnb::escapeForMessage(tensor.name) +
                       "' has rows of no element; LLM.int8() needs "
                       "in_features > 0");
    if (s.quantize) {
      plan.kind = config->loadIn4bit ? Plan::FourBit : Plan::EightBit;
      plan.transpose = s.transpose;
      plan.prefix = s.module.empty() ? "" : s.module + ".";
    }
    llvm::SmallVector<int64_t, 4> shape = weightShape(plan);
    if (plan.kind == Plan::Copy) {
      decls.push_back({tensor.name, tensor.dtype, tensor.shape});
    } else if (plan.kind == Plan::EightBit) {
      for (SafetensorsTensorDecl &d :
           linear8bitDecls(plan.prefix, shape[0], shape[1]))
        decls.push_back(std::move(d));
    } else {
      if (config->bnb4bitUseDoubleQuant) {
        // The JSON blob's length depends on the offset, so it is computed
        // before the header is written (and again, identically, later).
        std::vector<uint8_t> storage;
        llvm::ArrayRef<uint8_t> bytes = weightBytes(*input, plan, storage);
        size_t n = tensor.numElements();
        std::vector<float> absmax(numBlocks(n, blocksize));
        computeAbsmax(bytes.data(), tensor.dtype, n, blocksize, absmax.data(),
                      pool.get());
        plan.nestedOffset = absmaxMean(absmax.data(), absmax.size());
        input->releaseMappedPages();
      }
      Expected<std::vector<SafetensorsTensorDecl>> layer =
          linear4bitDecls(plan.prefix, config->bnb4bitQuantType, blocksize,
                          tensor.dtype, shape, config->bnb4bitQuantStorage,
                          config->bnb4bitUseDoubleQuant, plan.nestedOffset);
      if (!layer)
        return makeError("'" + inputPath +
                         "': " + llvm::toString(layer.takeError()));
      for (SafetensorsTensorDecl &d : *layer)
        decls.push_back(std::move(d));
    }
    plans.push_back(std::move(plan));
  }

  std::map<std::string, std::string> metadata;
  if (!input->shards().empty())
    metadata = input->shards().front().metadata();
  metadata.emplace("format", "pt");
  Expected<std::unique_ptr<SafetensorsWriter>> writer =
      SafetensorsWriter::create(outputPath, decls, metadata);
  if (!writer)
    return writer.takeError();

  size_t index = 0;
  for (const Plan &plan : plans) {
    ++index;
    const SafetensorsTensor &tensor = *plan.tensor;
    auto start = std::chrono::steady_clock::now();
    uint64_t written = 0;
    std::string what;
    if (plan.kind == Plan::Copy) {
      if (Error err = (*writer)->write(tensor.name, input->bytes(tensor)))
        return err;
      written = tensor.numBytes();
      what = "copied";
      ++totals.copied;
      totals.footprintAfter += written;
    } else {
      std::vector<uint8_t> storage;
      llvm::ArrayRef<uint8_t> bytes = weightBytes(*input, plan, storage);
      llvm::SmallVector<int64_t, 4> shape = weightShape(plan);
      NonFiniteCounts nonFinite = countNonFinite(
          bytes.data(), tensor.dtype, bytes.size() / dtypeSize(tensor.dtype));
      if (nonFinite.nans || nonFinite.infinities)
        llvm::WithColor::warning()
            << "'" << bnb::escapeForMessage(tensor.name) << "' holds "
            << nonFinite.nans
            << " NaN and " << nonFinite.infinities
            << " infinite values; they are quantized as the CUDA kernels "
               "would (see docs/numerics.md)\n";
      if (plan.kind == Plan::FourBit) {
        Quantized4bit q = quantizeLinear4bit(
            bytes.data(), tensor.dtype, shape, config->bnb4bitQuantType,
            blocksize, config->bnb4bitUseDoubleQuant,
            config->bnb4bitQuantStorage, pool.get());
        if (q.nested &&
            floatBits(q.nested->offset) != floatBits(*plan.nestedOffset))
          return makeError("internal error: the double-quantization offset of "
                           "'" +
                           tensor.name + "' changed between passes");
        totals.footprintAfter += q.packed.size();
        what =
            (quantTypeName(config->bnb4bitQuantType) + (q.nested ? "+dq" : ""))
                .str();
        Expected<std::vector<StateTensor>> tensors =
            linear4bitTensors(plan.prefix, std::move(q));
        if (!tensors)
          return tensors.takeError();
        if (Error err = writeStateTensors(**writer, *tensors, written))
          return err;
        ++totals.fourBit;
      } else {
        QuantizedInt8 q = quantizeLinear8bit(bytes.data(), tensor.dtype,
                                             shape[0], shape[1], pool.get());
        if (Error err = writeStateTensors(
                **writer, linear8bitTensors(plan.prefix, q), written))
          return err;
        totals.footprintAfter += q.cb.size();
        what = "int8";
        ++totals.eightBit;
      }
      if (plan.transpose)
        what += " (Conv1D, transposed)";
    }
    totals.outputBytes += written;
    input->releaseMappedPages();
    if (!quiet) {
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count();
      llvm::errs() << "[" << index << "/" << plans.size() << "] " << tensor.name
                   << ": " << what << " " << dtypeSafetensorsName(tensor.dtype)
                   << " " << formatShape(tensor.shape) << ", "
                   << formatBytes(tensor.numBytes()) << " -> "
                   << formatBytes(written)
                   << llvm::format(" in %.3f s", seconds);
      if (seconds > 0)
        llvm::errs() << " ("
                     << formatBytes(
                            static_cast<uint64_t>(tensor.numBytes() / seconds))
                     << "/s)";
      llvm::errs() << "\n";
    }
  }
  if (Error err = (*writer)->commit())
    return err;

  if (!quiet) {
    llvm::errs() << "wrote '" << outputPath << "': " << totals.fourBit
                 << " 4-bit and " << totals.eightBit << " int8 linear weights, "
                 << totals.copied << " tensors copied\n"
                 << "memory footprint (get_memory_footprint): "
                 << formatBytes(totals.inputBytes) << " -> "
                 << formatBytes(totals.footprintAfter) << "\n"
                 << "tensor bytes, quantization state included: "
                 << formatBytes(totals.inputBytes) << " -> "
                 << formatBytes(totals.outputBytes) << "\n";
  }
  return Error::success();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  threadsOption();
  cl::HideUnrelatedOptions(category);
  cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "bnb-mlir version " << BNB_VERSION_STRING << "\n";
  });
  if (!bnb::parseToolCommandLine(
      argc, argv,
      "bnb-quantize: quantize the linear weights of a safetensors checkpoint "
      "into bitsandbytes' serialized format\n"))
    return 1;
  if (Error err = run()) {
    llvm::WithColor::error()
        << bnb::escapeForMessage(llvm::toString(std::move(err))) << "\n";
    return 1;
  }
  return 0;
}
