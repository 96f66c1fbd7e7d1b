//===- Manifest.cpp - the manifest.json of a compiled artifact -------------===//

#include "bnb/Target/Manifest.h"
#include "bnb/Support/BoundedJson.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/xxhash.h"

#include <algorithm>

using namespace bnb;
using llvm::json::Array;
using llvm::json::Object;
using llvm::json::Value;

int64_t TensorSpec::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::optional<int64_t> bnb::checkedNumBytes(::bnb::DType dtype,
                                            llvm::ArrayRef<int64_t> shape) {
  std::optional<int64_t> bytes = int64_t(::bnb::dtypeSize(dtype));
  for (int64_t dim : shape) {
    if (dim < 0)
      return std::nullopt;
    bytes = llvm::checkedMul(*bytes, dim);
    if (!bytes)
      return std::nullopt;
  }
  return bytes;
}

const EntryPoint *Manifest::lookup(llvm::StringRef name) const {
  for (const EntryPoint &entry : entryPoints)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

namespace {
/// Reads fields with errors that name the manifest and the field path.
class Reader {
public:
  explicit Reader(llvm::StringRef path) : path(path) {}

  llvm::Error error(const llvm::Twine &field, const llvm::Twine &what) {
    return llvm::createStringError(
        llvm::formatv("{0}: field '{1}' {2}", path, field.str(), what.str())
            .str());
  }

  llvm::Expected<std::string> string(const Object &object,
                                     llvm::StringRef key,
                                     const llvm::Twine &where) {
    std::optional<llvm::StringRef> value = object.getString(key);
    if (!value)
      return error(where + key, "is missing or not a string");
    return value->str();
  }

  llvm::Expected<const Object *> object(const Object &object,
                                        llvm::StringRef key,
                                        const llvm::Twine &where) {
    const Object *value = object.getObject(key);
    if (!value)
      return error(where + key, "is missing or not an object");
    return value;
  }

  llvm::Expected<const Array *> array(const Object &object,
                                      llvm::StringRef key,
                                      const llvm::Twine &where) {
    const Array *value = object.getArray(key);
    if (!value)
      return error(where + key, "is missing or not an array");
    return value;
  }

  llvm::Expected<TensorSpec> tensor(const Value &value,
                                    const llvm::Twine &where) {
    const Object *object = value.getAsObject();
    if (!object)
      return error(where, "is not an object");
    TensorSpec spec;
    llvm::Expected<std::string> name = string(*object, "name", where + ".");
    if (!name)
      return name.takeError();
    spec.name = *name;
    llvm::Expected<std::string> dtype = string(*object, "dtype", where + ".");
    if (!dtype)
      return dtype.takeError();
    std::optional<::bnb::DType> parsed = ::bnb::parseSafetensorsDType(*dtype);
    if (!parsed)
      return error(where + ".dtype", "names an unknown dtype '" + *dtype + "'");
    spec.dtype = *parsed;
    llvm::Expected<const Array *> shape = array(*object, "shape", where + ".");
    if (!shape)
      return shape.takeError();
    for (const Value &dim : **shape) {
      std::optional<int64_t> size = dim.getAsInteger();
      if (!size || *size < 0 || *size > (int64_t(1) << 40))
        return error(where + ".shape", "has an invalid dimension");
      spec.shape.push_back(*size);
    }
    if (!checkedNumBytes(spec.dtype, spec.shape))
      return error(where + ".shape", "has more bytes than int64_t holds");
    if (const Value *vocab = object->get("vocab_size")) {
      std::optional<int64_t> size = vocab->getAsInteger();
      if (!size || *size <= 0 ||
          (spec.dtype != ::bnb::DType::I64 && spec.dtype != ::bnb::DType::I32))
        return error(where + ".vocab_size",
                     "must be a positive integer on an I64 or I32 input");
      spec.vocabSize = *size;
    }
    if (const Value *cache = object->get("kv_cache")) {
      std::optional<bool> flag = cache->getAsBoolean();
      if (!flag)
        return error(where + ".kv_cache", "must be true or false");
      spec.kvCache = *flag;
    }
    return spec;
  }

  llvm::Error tensors(const Object &object, llvm::StringRef key,
                      const llvm::Twine &where, std::vector<TensorSpec> &out) {
    llvm::Expected<const Array *> list = array(object, key, where);
    if (!list)
      return list.takeError();
    for (auto [i, value] : llvm::enumerate(**list)) {
      llvm::Expected<TensorSpec> spec =
          tensor(value, where + key + "[" + llvm::Twine(i) + "]");
      if (!spec)
        return spec.takeError();
      out.push_back(std::move(*spec));
    }
    return llvm::Error::success();
  }

private:
  std::string path;
};

Value tensorJson(const TensorSpec &spec) {
  Array shape;
  for (int64_t d : spec.shape)
    shape.push_back(d);
  Object object{{"name", spec.name},
                {"dtype", ::bnb::dtypeSafetensorsName(spec.dtype)},
                {"shape", std::move(shape)}};
  if (spec.kvCache)
    object["kv_cache"] = true;
  if (spec.vocabSize)
    object["vocab_size"] = *spec.vocabSize;
  return object;
}

Array tensorsJson(const std::vector<TensorSpec> &specs) {
  Array out;
  for (const TensorSpec &spec : specs)
    out.push_back(tensorJson(spec));
  return out;
}
} // namespace

llvm::Expected<Manifest> bnb::parseManifest(llvm::StringRef text,
                                            llvm::StringRef path) {
  llvm::Expected<Value> parsed = parseBoundedJson(text);
  if (!parsed)
    return llvm::createStringError(
        llvm::formatv("{0}: invalid JSON: {1}", path,
                      llvm::toString(parsed.takeError()))
            .str());
  const Object *root = parsed->getAsObject();
  Reader r(path);
  if (!root)
    return r.error("<root>", "is not an object");
  Manifest m;
  std::optional<llvm::StringRef> format = root->getString("format");
  if (!format || *format != "bnb-artifact")
    return r.error("format", "must be \"bnb-artifact\"");
  std::optional<int64_t> version = root->getInteger("format_version");
  if (!version)
    return r.error("format_version", "is missing or not an integer");
  if (*version != kArtifactFormatVersion)
    return llvm::createStringError(
        llvm::formatv("{0}: artifact format version {1} is not supported "
                      "(this bnb-run reads version {2}); recompile the model",
                      path, *version, kArtifactFormatVersion)
            .str());
  m.formatVersion = *version;
  llvm::Expected<const Object *> compiler = r.object(*root, "compiler", "");
  if (!compiler)
    return compiler.takeError();
  for (auto [field, out] :
       {std::pair{"version", &m.compilerVersion}, {"llvm", &m.llvmVersion}}) {
    llvm::Expected<std::string> value =
        r.string(**compiler, field, "compiler.");
    if (!value)
      return value.takeError();
    *out = *value;
  }
  for (auto [field, out] : {std::pair{"target", &m.target},
                            {"module", &m.moduleFile},
                            {"weights", &m.weightsFile}}) {
    llvm::Expected<std::string> value = r.string(*root, field, "");
    if (!value)
      return value.takeError();
    *out = *value;
  }
  if (m.target != "cpu" && m.target != "cuda:sm_80" && m.target != "cuda:sm_90")
    return r.error("target", "must be cpu, cuda:sm_80 or cuda:sm_90, got '" +
                                 m.target + "'");
  for (const std::string *file : {&m.moduleFile, &m.weightsFile})
    if (file->empty() || llvm::StringRef(*file).contains('/'))
      return r.error("module/weights", "must name a file inside the artifact");
  if (const Value *cpu = root->get("cpu_module")) {
    std::optional<llvm::StringRef> file = cpu->getAsString();
    if (!file || file->empty() || file->contains('/'))
      return r.error("cpu_module", "must name a file inside the artifact");
    if (!m.isCuda())
      return r.error("cpu_module", "is only valid for a cuda target");
    m.cpuModuleFile = file->str();
  }
  if (const Value *cpu = root->get("cpu")) {
    const Object *object = cpu->getAsObject();
    if (!object)
      return r.error("cpu", "is not an object");
    CpuBuild build;
    for (auto [field, out] :
         {std::pair{"level", &build.level}, {"name", &build.name}}) {
      llvm::Expected<std::string> value = r.string(*object, field, "cpu.");
      if (!value)
        return value.takeError();
      *out = *value;
    }
    const Array *features = object->getArray("features");
    if (!features)
      return r.error("cpu.features", "is missing or not an array");
    for (const Value &feature : *features) {
      std::optional<llvm::StringRef> name = feature.getAsString();
      if (!name || name->empty() || name->size() > 64 ||
          !llvm::all_of(*name, [](char c) {
            return llvm::isAlnum(c) || c == '.' || c == '-' || c == '_';
          }))
        return r.error("cpu.features", "must hold feature names");
      build.features.push_back(name->str());
    }
    if (!m.hasCpuBuild())
      return r.error("cpu", "describes a CPU build this artifact lacks");
    m.cpuBuild = std::move(build);
  }
  if (const Value *files = root->get("tokenizer_files")) {
    const Array *list = files->getAsArray();
    if (!list)
      return r.error("tokenizer_files", "is not an array");
    for (const Value &file : *list) {
      std::optional<llvm::StringRef> name = file.getAsString();
      if (!name || name->empty() || name->contains('/') || *name == "." ||
          *name == "..")
        return r.error("tokenizer_files",
                       "must name files inside the artifact");
      m.tokenizerFiles.push_back(name->str());
    }
  }
  llvm::Expected<const Object *> config = r.object(*root, "config", "");
  if (!config)
    return config.takeError();
  m.config = **config;
  if (const Object *plan = root->getObject("memory_plan"))
    m.memoryPlan = *plan;

  llvm::Expected<const Array *> entries = r.array(*root, "entry_points", "");
  if (!entries)
    return entries.takeError();
  if ((*entries)->empty())
    return r.error("entry_points", "is empty");
  for (auto [i, value] : llvm::enumerate(**entries)) {
    std::string where = llvm::formatv("entry_points[{0}].", i).str();
    const Object *object = value.getAsObject();
    if (!object)
      return r.error(where, "is not an object");
    EntryPoint entry;
    llvm::Expected<std::string> name = r.string(*object, "name", where);
    if (!name)
      return name.takeError();
    entry.name = *name;
    llvm::Expected<std::string> symbol = r.string(*object, "symbol", where);
    if (!symbol)
      return symbol.takeError();
    entry.symbol = *symbol;
    // The symbol is derived from the name, so that an edited manifest
    // cannot point bnb-run at any other function of the process.
    if (entry.symbol != "bnb_entry_" + entry.name ||
        !llvm::all_of(entry.name, [](char c) {
          return llvm::isAlnum(c) || c == '_';
        }))
      return r.error(where + "symbol",
                     "must be \"bnb_entry_<name>\" for a name of letters, "
                     "digits and '_'");
    if (m.lookup(entry.name))
      return r.error(where + "name", "names entry point '" + entry.name +
                                         "' twice");
    if (llvm::Error e = r.tensors(*object, "inputs", where, entry.inputs))
      return std::move(e);
    if (llvm::Error e = r.tensors(*object, "weights", where, entry.weights))
      return std::move(e);
    if (llvm::Error e = r.tensors(*object, "outputs", where, entry.outputs))
      return std::move(e);
    m.entryPoints.push_back(std::move(entry));
  }

  llvm::Expected<const Object *> checksums = r.object(*root, "checksums", "");
  if (!checksums)
    return checksums.takeError();
  for (const auto &[file, sum] : **checksums) {
    std::optional<llvm::StringRef> value = sum.getAsString();
    llvm::StringRef name = file;
    if (name.empty() || name.contains('/') || name == "." || name == "..")
      return r.error("checksums." + name,
                     "must name a file inside the artifact");
    if (!value || !value->starts_with(kChecksumPrefix))
      return r.error("checksums." + file.str(),
                     "must be \"" + llvm::Twine(kChecksumPrefix) + "<hex>\"");
    m.checksums.push_back({file.str(), value->str()});
  }
  std::vector<const std::string *> files = {&m.moduleFile, &m.weightsFile,
                                            &m.cpuModuleFile};
  for (const std::string &file : m.tokenizerFiles)
    files.push_back(&file);
  for (const std::string *file : files) {
    if (file->empty())
      continue;
    if (llvm::none_of(m.checksums,
                      [&](const auto &entry) { return entry.first == *file; }))
      return r.error("checksums." + *file, "is missing");
  }
  for (const auto &[file, sum] : m.checksums)
    if (llvm::none_of(files, [&](const std::string *known) {
          return !known->empty() && *known == file;
        }))
      return r.error("checksums." + file, "names no file of the artifact");
  return m;
}

std::string bnb::entrySignature(llvm::ArrayRef<EntryPoint> entries) {
  Array list;
  for (const EntryPoint &entry : entries)
    list.push_back(Object{{"name", entry.name},
                          {"symbol", entry.symbol},
                          {"inputs", tensorsJson(entry.inputs)},
                          {"weights", tensorsJson(entry.weights)},
                          {"outputs", tensorsJson(entry.outputs)}});
  return llvm::formatv("{0}", Value(std::move(list))).str();
}

llvm::json::Value bnb::toJson(const Manifest &m) {
  Array entries;
  for (const EntryPoint &entry : m.entryPoints)
    entries.push_back(Object{{"name", entry.name},
                             {"symbol", entry.symbol},
                             {"inputs", tensorsJson(entry.inputs)},
                             {"weights", tensorsJson(entry.weights)},
                             {"outputs", tensorsJson(entry.outputs)}});
  Object checksums;
  for (const auto &[file, sum] : m.checksums)
    checksums[file] = sum;
  Object root{
      {"format", "bnb-artifact"},
      {"format_version", m.formatVersion},
      {"compiler",
       Object{{"name", "bnb-mlir"},
              {"version", m.compilerVersion},
              {"llvm", m.llvmVersion}}},
      {"target", m.target},
      {"module", m.moduleFile},
      {"weights", m.weightsFile},
      {"config", Object(m.config)},
      {"entry_points", std::move(entries)},
      {"memory_plan", Object(m.memoryPlan)},
      {"checksums", std::move(checksums)}};
  if (!m.cpuModuleFile.empty())
    root["cpu_module"] = m.cpuModuleFile;
  if (!m.tokenizerFiles.empty()) {
    Array files;
    for (const std::string &file : m.tokenizerFiles)
      files.push_back(file);
    root["tokenizer_files"] = std::move(files);
  }
  if (m.cpuBuild) {
    Array features;
    for (const std::string &feature : m.cpuBuild->features)
      features.push_back(feature);
    root["cpu"] = Object{{"level", m.cpuBuild->level},
                         {"name", m.cpuBuild->name},
                         {"features", std::move(features)}};
  }
  return root;
}

std::string bnb::checksumOf(llvm::ArrayRef<uint8_t> bytes) {
  // Two levels so that a file is hashed one chunk at a time (LLVM's xxh3 is
  // one-shot): the digest of the chunks' little-endian digests.
  std::vector<uint8_t> digests;
  for (size_t begin = 0; begin < bytes.size() || begin == 0;
       begin += kChecksumChunkBytes) {
    uint64_t digest = llvm::xxh3_64bits(bytes.slice(
        begin, std::min<size_t>(kChecksumChunkBytes, bytes.size() - begin)));
    for (int i = 0; i < 8; ++i)
      digests.push_back(static_cast<uint8_t>(digest >> (8 * i)));
    if (bytes.empty())
      break;
  }
  return llvm::formatv("{0}{1:x-16}", kChecksumPrefix,
                       llvm::xxh3_64bits(digests))
      .str();
}

llvm::Expected<std::string> bnb::checksumFile(llvm::StringRef path) {
  // Read, not mapped: a multi-gigabyte weights file is checksummed with one
  // chunk in memory.
  auto cannotRead = [&](std::error_code ec) {
    return llvm::createStringError(ec, "cannot read '" + path +
                                           "': " + ec.message());
  };
  llvm::Expected<llvm::sys::fs::file_t> file =
      llvm::sys::fs::openNativeFileForRead(path);
  if (!file)
    return cannotRead(llvm::errorToErrorCode(file.takeError()));
  // The buffer starts at the file's size (a small artifact file costs no
  // 64 MiB allocation) and grows to one chunk only if the file does.
  llvm::sys::fs::file_status status;
  uint64_t expected = kChecksumChunkBytes;
  if (!llvm::sys::fs::status(*file, status))
    expected = std::clamp<uint64_t>(status.getSize(), 1, kChecksumChunkBytes);
  std::vector<uint8_t> chunk(expected), digests;
  llvm::Error error = llvm::Error::success();
  while (true) {
    size_t filled = 0;
    while (filled < kChecksumChunkBytes) {
      if (filled == chunk.size())
        chunk.resize(std::min(kChecksumChunkBytes, chunk.size() * 2));
      llvm::Expected<size_t> got = llvm::sys::fs::readNativeFile(
          *file, llvm::MutableArrayRef<char>(
                     reinterpret_cast<char *>(chunk.data()) + filled,
                     chunk.size() - filled));
      if (!got) {
        error = got.takeError();
        break;
      }
      if (*got == 0)
        break;
      filled += *got;
    }
    if (error)
      break;
    if (filled == 0 && !digests.empty())
      break;
    uint64_t digest =
        llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(chunk.data(), filled));
    for (int i = 0; i < 8; ++i)
      digests.push_back(static_cast<uint8_t>(digest >> (8 * i)));
    if (filled < kChecksumChunkBytes)
      break;
  }
  llvm::sys::fs::closeFile(*file);
  if (error)
    return cannotRead(llvm::errorToErrorCode(std::move(error)));
  return llvm::formatv("{0}{1:x-16}", kChecksumPrefix,
                       llvm::xxh3_64bits(digests))
      .str();
}
