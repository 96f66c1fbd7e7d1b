//===- Generate.cpp - bnb-run --generate -----------------------------------===//

#include "Generate.h"
#include "Session.h"

#include "bnb/Support/DType.h"
#include "bnb/Support/PromptSchedule.h"
#include "bnb/Target/MemrefArgs.h"
#include "bnb_runtime.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstring>
#include <dlfcn.h>
#include <map>

using namespace bnb;
using namespace bnb::tools;

namespace {
using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

/// One entry point bound to its buffers: inputs (token ids, position, the
/// shared KV caches), the weights and the logits.
struct Bound {
  const EntryPoint *entry = nullptr;
  EntryFn fn = nullptr;
  MemrefArgs args;
  int64_t *ids = nullptr;
  int64_t *position = nullptr;
  int64_t chunk = 0;
  void *logits = nullptr;
  const TensorSpec *logitsSpec = nullptr;
};

/// Whether `name` is a prefill entry point: `prefill`, or `prefill_<C>`
/// for further chunk sizes.
bool isPrefill(llvm::StringRef name) {
  return name == "prefill" || name.starts_with("prefill_");
}

/// The generation state: module, weights, caches, the entry points.
class Generator {
public:
  Generator(const Manifest &manifest, llvm::StringRef dir, bool cuda)
      : manifest(manifest), dir(dir.str()), cuda(cuda), allocs(cuda) {}
  ~Generator() {
    allocs.release();
    if (handle)
      dlclose(handle);
  }

  llvm::Error setUp(unsigned threads) {
    const EntryPoint *decode = manifest.lookup("decode");
    if (!decode)
      return failure(dir + "/manifest.json: no 'decode' entry point; "
                           "generation needs an artifact compiled from a "
                           "graph imported with generation (python -m "
                           "bnb_mlir import, the default)");
    llvm::SmallString<256> weightsPath(dir);
    llvm::sys::path::append(weightsPath, manifest.weightsFile);
    llvm::Expected<SafetensorsFile> file = SafetensorsFile::open(weightsPath);
    if (!file)
      return file.takeError();
    weights = std::make_unique<SafetensorsFile>(std::move(*file));
    llvm::Expected<void *> module = loadModule(manifest, dir, cuda, threads);
    if (!module)
      return module.takeError();
    handle = *module;
    if (llvm::Error e = bind(*decode, decodeCall))
      return e;
    if (decodeCall.chunk != 1)
      return failure("entry point 'decode' must take one token, it takes " +
                     llvm::Twine(decodeCall.chunk));
    for (const EntryPoint &entry : manifest.entryPoints) {
      if (!isPrefill(entry.name))
        continue;
      Bound call;
      if (llvm::Error e = bind(entry, call))
        return e;
      for (const Bound &other : prefillCalls)
        if (other.chunk == call.chunk)
          return failure(llvm::formatv("{0}/manifest.json: entry points "
                                       "'{1}' and '{2}' both take {3} tokens",
                                       dir, other.entry->name, entry.name,
                                       call.chunk)
                             .str());
      prefillCalls.push_back(std::move(call));
    }
    return llvm::Error::success();
  }

  /// Compiled maximum context (the caches' sequence dimension).
  int64_t maxSeqLen() const { return maxSeq; }
  /// Vocabulary size (the logits' last dimension).
  int64_t vocab() const { return decodeCall.logitsSpec->shape.back(); }
  /// Tokens per call of each prefill entry point (none without prefill).
  std::vector<int64_t> chunks() const {
    std::vector<int64_t> sizes;
    for (const Bound &call : prefillCalls)
      sizes.push_back(call.chunk);
    return sizes;
  }

  /// Runs `ids` at `position` through the prefill entry point of
  /// ids.size() tokens or decode (one id); returns the logits of the last
  /// one.
  llvm::Expected<std::vector<float>> step(llvm::ArrayRef<int64_t> ids,
                                          int64_t position) {
    Bound *found = ids.size() == 1 ? &decodeCall : nullptr;
    for (Bound &call : prefillCalls)
      if (!found && call.chunk == int64_t(ids.size()))
        found = &call;
    if (!found)
      return failure("internal: no entry point for a step of " +
                     llvm::Twine(ids.size()) + " tokens");
    Bound &call = *found;
    if (llvm::Error e = upload(call.ids, ids.data(), ids.size() * 8))
      return std::move(e);
    if (llvm::Error e = upload(call.position, &position, 8))
      return std::move(e);
    call.fn(call.args.pointers());
    if (cuda)
      bnbrt_synchronize();
    if (llvm::Error e = checkRuntime("running '" + call.entry->name + "' failed"))
      return std::move(e);
    const TensorSpec &spec = *call.logitsSpec;
    std::vector<uint8_t> raw(spec.numBytes());
    if (cuda)
      bnbrt_memcpy_d2h(raw.data(), call.logits, raw.size());
    else
      std::memcpy(raw.data(), call.logits, raw.size());
    if (llvm::Error e = checkRuntime("cannot read the logits"))
      return std::move(e);
    int64_t n = vocab();
    int64_t last = spec.numElements() / n - 1;
    std::vector<float> logits(n);
    for (int64_t i = 0; i < n; ++i)
      logits[i] = ::bnb::loadAsFloat(raw.data(), spec.dtype, last * n + i);
    return logits;
  }

private:
  llvm::Error upload(void *dst, const void *src, size_t bytes) {
    if (!cuda) {
      std::memcpy(dst, src, bytes);
      return llvm::Error::success();
    }
    bnbrt_memcpy_h2d(dst, src, bytes);
    return checkRuntime("cannot upload the token ids");
  }

  /// A zeroed buffer of the runtime in `category`.
  llvm::Expected<void *> zeros(const TensorSpec &spec, int category) {
    void *ptr = allocs.allocate(spec.numBytes(), category, 64);
    if (llvm::Error e = checkRuntime("cannot allocate '" + spec.name + "'"))
      return std::move(e);
    cuda ? (void)bnbrt_memset(ptr, 0, spec.numBytes())
         : (void)std::memset(ptr, 0, spec.numBytes());
    return ptr;
  }

  llvm::Error bind(const EntryPoint &entry, Bound &call) {
    call.entry = &entry;
    llvm::Expected<EntryFn> fn = lookupEntry(handle, entry, manifest, cuda);
    if (!fn)
      return fn.takeError();
    call.fn = *fn;
    std::string where = dir + "/manifest.json: entry point '" + entry.name + "'";
    for (const TensorSpec &spec : entry.inputs) {
      if (spec.kvCache) {
        // [1, KV heads, max sequence, head dim], shared by the entries.
        if (spec.shape.size() != 4)
          return failure(where + ": KV cache '" + spec.name +
                         "' is not [1, heads, sequence, head dim]");
        auto [it, fresh] = caches.try_emplace(spec.name, spec, nullptr);
        if (fresh) {
          llvm::Expected<void *> ptr = zeros(spec, BNBRT_CATEGORY_KV_CACHE);
          if (!ptr)
            return ptr.takeError();
          it->second.second = *ptr;
        } else if (it->second.first.shape != spec.shape ||
                   it->second.first.dtype != spec.dtype) {
          return failure(where + ": KV cache '" + spec.name +
                         "' differs from the other entry point's");
        }
        if (maxSeq && maxSeq != spec.shape[2])
          return failure(where + ": KV caches of different lengths");
        maxSeq = spec.shape[2];
        call.args.add(it->second.second, spec.shape);
        continue;
      }
      llvm::Expected<void *> ptr = zeros(spec, BNBRT_CATEGORY_ACTIVATIONS);
      if (!ptr)
        return ptr.takeError();
      if (spec.name == "input_ids" && spec.dtype == ::bnb::DType::I64 &&
          spec.shape.size() == 2 && spec.shape[0] == 1) {
        call.ids = static_cast<int64_t *>(*ptr);
        call.chunk = spec.shape[1];
      } else if (spec.name == "position" && spec.dtype == ::bnb::DType::I64 &&
                 spec.numElements() == 1) {
        call.position = static_cast<int64_t *>(*ptr);
      } else {
        return failure(where + ": unexpected input '" + spec.name + "' " +
                       describe(spec.dtype, spec.shape) +
                       " (expected input_ids, position and KV caches)");
      }
      call.args.add(*ptr, spec.shape);
    }
    if (!call.ids || !call.position || caches.empty())
      return failure(where + " lacks input_ids, position or KV caches");
    for (const TensorSpec &spec : entry.weights) {
      auto found = staged.find(spec.name);
      if (found == staged.end()) {
        llvm::Expected<const SafetensorsTensor *> tensor =
            findWeight(*weights, spec);
        if (!tensor)
          return tensor.takeError();
        llvm::Expected<void *> ptr =
            stage(allocs, cuda, weights->bytes(**tensor),
                  ::bnb::dtypeSize(spec.dtype), BNBRT_CATEGORY_WEIGHTS,
                  spec.name);
        if (!ptr)
          return ptr.takeError();
        found = staged.try_emplace(spec.name, *ptr).first;
      }
      call.args.add(found->second, spec.shape);
    }
    if (entry.outputs.size() != 1 || entry.outputs[0].name != "logits")
      return failure(where + " must have exactly one output, 'logits'");
    call.logitsSpec = &entry.outputs[0];
    llvm::Expected<void *> logits =
        zeros(entry.outputs[0], BNBRT_CATEGORY_ACTIVATIONS);
    if (!logits)
      return logits.takeError();
    call.logits = *logits;
    call.args.add(call.logits, entry.outputs[0].shape);
    return llvm::Error::success();
  }

  const Manifest &manifest;
  std::string dir;
  bool cuda;
  Allocations allocs;
  void *handle = nullptr;
  std::unique_ptr<SafetensorsFile> weights;
  std::map<std::string, std::pair<TensorSpec, void *>> caches;
  std::map<std::string, void *> staged;
  int64_t maxSeq = 0;
  Bound decodeCall;
  /// One per prefill entry point, in the manifest's order.
  std::vector<Bound> prefillCalls;
};
} // namespace

llvm::Error bnb::tools::generate(const Manifest &manifest,
                               llvm::StringRef artifactDir, bool cuda,
                               const GenerateOptions &o) {
  std::string invalid = o.sampling.validate();
  if (!invalid.empty())
    return failure(invalid);
  if (o.promptIds.empty())
    return failure("--prompt-ids is empty");
  if (o.maxNewTokens < 0)
    return failure("--max-new-tokens must be >= 0");
  Generator gen(manifest, artifactDir, cuda);
  if (llvm::Error e = gen.setUp(o.threads))
    return e;
  const int64_t vocab = gen.vocab(), maxSeq = gen.maxSeqLen();
  for (int64_t id : o.promptIds)
    if (id < 0 || id >= vocab)
      return failure(llvm::formatv("prompt token id {0} is outside the "
                                   "vocabulary [0, {1})",
                                   id, vocab)
                         .str());
  int64_t promptLen = static_cast<int64_t>(o.promptIds.size());
  if (promptLen > maxSeq)
    return failure(llvm::formatv("the prompt has {0} tokens, more than the "
                                 "compiled maximum context of {1}",
                                 promptLen, maxSeq)
                       .str());

  // The prompt: the calls bnb::schedulePrompt picks (PromptSchedule.h).
  auto start = Clock::now();
  std::vector<float> logits;
  std::vector<PromptCall> schedule =
      schedulePrompt(promptLen, gen.chunks(), maxSeq);
  for (const PromptCall &call : schedule) {
    llvm::Expected<std::vector<float>> out =
        gen.step(callTokens(o.promptIds, call), call.position);
    if (!out)
      return out.takeError();
    logits = std::move(*out);
  }
  int64_t pos = promptLen;
  double prefillMs = msSince(start);

  Sampler sampler(o.sampling);
  llvm::raw_ostream &os = llvm::outs();
  std::vector<double> decodeMs;
  int64_t generated = 0;
  bool stoppedByLength = false;
  while (generated < o.maxNewTokens) {
    int64_t next = sampler.next(logits);
    os << next << (generated + 1 < o.maxNewTokens ? " " : "");
    os.flush();
    ++generated;
    if (llvm::is_contained(o.stopIds, next) || generated == o.maxNewTokens)
      break;
    if (pos >= maxSeq) {
      stoppedByLength = true;
      break;
    }
    auto t = Clock::now();
    llvm::Expected<std::vector<float>> out = gen.step({next}, pos);
    if (!out)
      return out.takeError();
    decodeMs.push_back(msSince(t));
    logits = std::move(*out);
    ++pos;
  }
  os << "\n";
  if (stoppedByLength)
    llvm::errs() << llvm::formatv("bnb-run: stopped at the compiled maximum "
                                  "context of {0} tokens\n",
                                  maxSeq);
  if (o.report) {
    double decodeTotal = 0;
    for (double ms : decodeMs)
      decodeTotal += ms;
    int pool = cuda ? BNBRT_POOL_DEVICE : BNBRT_POOL_HOST;
    os << llvm::formatv("prompt tokens: {0}\n", promptLen);
    int64_t prefillCalls = llvm::count_if(
        schedule, [](const PromptCall &c) { return c.count > 1; });
    os << llvm::formatv("prefill: {0:f2} ms, {1:f1} tok/s ({2} prefill and "
                        "{3} decode calls)\n",
                        prefillMs, promptLen / (prefillMs / 1e3), prefillCalls,
                        schedule.size() - prefillCalls);
    if (!decodeMs.empty()) {
      // The first step pays one-time costs (the CPU microkernels repack
      // the 4-bit weights then); the median leaves them and outliers out.
      std::vector<double> sorted(decodeMs);
      llvm::sort(sorted);
      size_t n = sorted.size();
      double median = n % 2 ? sorted[n / 2]
                            : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
      os << llvm::formatv("decode: {0} steps, {1:f3} ms/token, {2:f1} tok/s "
                          "(first step {3:f3} ms, median {4:f3} ms)\n",
                          n, decodeTotal / n, n / (decodeTotal / 1e3),
                          decodeMs.front(), median);
    }
    os << llvm::formatv("generated tokens: {0}\n", generated);
    os << llvm::formatv(
        "peak memory: {0} bytes (kv cache {1}, weights {2}, constants {3})\n",
        bnbrt_memory_peak(pool, BNBRT_CATEGORY_TOTAL),
        bnbrt_memory_peak(pool, BNBRT_CATEGORY_KV_CACHE),
        bnbrt_memory_peak(pool, BNBRT_CATEGORY_WEIGHTS),
        bnbrt_memory_peak(pool, BNBRT_CATEGORY_CONSTANTS));
    if (cuda)
      os << llvm::formatv("device cache: {0} bytes in {1} blocks\n",
                          bnbrt_device_cache_bytes(),
                          bnbrt_device_cache_blocks());
  }
  return llvm::Error::success();
}
