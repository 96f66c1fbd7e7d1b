//===- Session.cpp - what bnb-run's modes share ----------------------------===//

#include "Session.h"

#include "bnb/Support/FileSafety.h"
#include "bnb/Target/CpuTarget.h"
#include "bnb_runtime.h"
#include "bnb_ukernels.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <dlfcn.h>

namespace bnb::tools {

/// A one-line error for the user.
llvm::Error failure(const llvm::Twine &message) {
  return llvm::createStringError(message.str());
}

std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string out = "[";
  llvm::raw_string_ostream os(out);
  llvm::interleaveComma(shape, os);
  os << "]";
  return out;
}

std::string describe(::bnb::DType dtype, llvm::ArrayRef<int64_t> shape) {
  return (::bnb::dtypeSafetensorsName(dtype) + " " + shapeString(shape)).str();
}

/// Verifies every checksum the manifest lists.
llvm::Error verifyChecksums(const Manifest &manifest, llvm::StringRef dir) {
  for (const auto &[file, expected] : manifest.checksums) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, file);
    if (llvm::Error error = checkRegularInput(path))
      return error;
    llvm::Expected<std::string> actual = checksumFile(path);
    if (!actual)
      return actual.takeError();
    if (*actual != expected)
      return failure(path + ": checksum mismatch (the file is corrupted or "
                            "was modified since it was compiled)");
  }
  return llvm::Error::success();
}

/// The weight tensor for `spec`. Packed 4-bit weights may be serialized in
/// another quant_storage dtype; the compiled code views the same bytes.
llvm::Expected<const SafetensorsTensor *>
findWeight(const SafetensorsFile &file, const TensorSpec &spec) {
  const SafetensorsTensor *tensor = file.lookup(spec.name);
  if (!tensor)
    return failure(file.path() + ": weight '" + spec.name + "' is missing");
  bool sameView = tensor->dtype == spec.dtype &&
                  llvm::ArrayRef<int64_t>(tensor->shape) ==
                      llvm::ArrayRef(spec.shape);
  bool packedView = spec.dtype == ::bnb::DType::U8 &&
                    tensor->numBytes() == static_cast<uint64_t>(spec.numBytes());
  if (!sameView && !packedView)
    return failure(file.path() + ": weight '" + spec.name + "' is " +
                   describe(tensor->dtype, tensor->shape) + ", expected " +
                   describe(spec.dtype, spec.shape));
  return tensor;
}

llvm::Error checkTokenIds(const SafetensorsFile &file,
                          const SafetensorsTensor &tensor,
                          llvm::StringRef name, int64_t vocabSize) {
  llvm::ArrayRef<uint8_t> bytes = file.bytes(tensor);
  size_t size = ::bnb::dtypeSize(tensor.dtype);
  for (size_t i = 0, e = bytes.size() / size; i < e; ++i) {
    int64_t id;
    if (size == 8) {
      std::memcpy(&id, bytes.data() + i * 8, 8);
    } else {
      int32_t narrow;
      std::memcpy(&narrow, bytes.data() + i * 4, 4);
      id = narrow;
    }
    if (id < 0 || id >= vocabSize)
      return failure(file.path() + ": input '" + name + "' holds token id " +
                     llvm::Twine(id) + " at index " + llvm::Twine(i) +
                     ", outside the vocabulary [0, " + llvm::Twine(vocabSize) +
                     ")");
  }
  return llvm::Error::success();
}

/// The runtime's first error, if any.
llvm::Error checkRuntime(const llvm::Twine &what) {
  if (const char *error = bnbrt_last_error())
    return failure(what + ": " + error);
  return llvm::Error::success();
}

/// Places `bytes` where the compiled code can read them: device memory, or
/// host memory aligned for the element type (the mapping itself when it
/// already is).
llvm::Expected<void *> stage(Allocations &allocs, bool cuda,
                             llvm::ArrayRef<uint8_t> bytes,
                             size_t elementSize, int category,
                             llvm::StringRef name) {
  if (!cuda) {
    void *ptr = const_cast<uint8_t *>(bytes.data());
    if (reinterpret_cast<uintptr_t>(ptr) % elementSize != 0) {
      ptr = allocs.allocate(bytes.size(), category, 64);
      if (llvm::Error error = checkRuntime("cannot stage '" + name + "'"))
        return std::move(error);
      std::memcpy(ptr, bytes.data(), bytes.size());
    }
    // Weights stay as staged (inputs such as KV caches do not).
    if (category == BNBRT_CATEGORY_WEIGHTS && !bytes.empty())
      allocs.immutable(ptr, bytes.size());
    return ptr;
  }
  void *ptr = allocs.allocate(bytes.size(), category, 0);
  if (llvm::Error error =
          checkRuntime("cannot allocate device memory for '" + name + "'"))
    return std::move(error);
  if (!bytes.empty())
    bnbrt_memcpy_h2d(ptr, bytes.data(), bytes.size());
  if (llvm::Error error = checkRuntime("cannot upload '" + name + "'"))
    return std::move(error);
  return ptr;
}

llvm::Expected<void *> loadModule(const Manifest &manifest,
                                  llvm::StringRef artifactDir, bool cuda,
                                  unsigned threads) {
  llvm::SmallString<256> modulePath(artifactDir);
  llvm::sys::path::append(modulePath, manifest.moduleFor(cuda));
  llvm::sys::fs::make_absolute(modulePath);
  if (!cuda && manifest.cpuBuild) {
    std::vector<std::string> missing =
        missingHostCpuFeatures(manifest.cpuBuild->features);
    if (!missing.empty())
      return failure(
          "'" + modulePath + "' was compiled for CPU '" +
          manifest.cpuBuild->name + "' and needs " +
          llvm::join(missing, ", ") +
          ", which this machine lacks; recompile with --target "
          "cpu:x86-64-v3, cpu:generic or on this machine");
  }
  if (threads)
    bnbrt_set_num_threads(int(threads));
  // A GPU module loads its kernels in a constructor, inside dlopen.
  void *handle = dlopen(modulePath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return failure("cannot load '" + modulePath + "': " + dlerror());
  if (llvm::Error error = checkRuntime("cannot load the kernels of '" +
                                       modulePath + "'")) {
    dlclose(handle);
    return std::move(error);
  }
  // The manifest is only trusted as far as it matches what was compiled.
  const char *compiled =
      static_cast<const char *>(dlsym(handle, kSignatureSymbol));
  if (!compiled) {
    dlclose(handle);
    return failure("'" + modulePath +
                   "' records no entry-point signature (not a module of "
                   "this bnb-compile); recompile the model");
  }
  if (entrySignature(manifest.entryPoints) != compiled) {
    dlclose(handle);
    return failure(artifactDir + "/manifest.json: the entry points differ "
                                 "from those compiled into '" +
                   manifest.moduleFor(cuda) +
                   "' (the manifest was modified); recompile the model");
  }
  return handle;
}

llvm::Expected<EntryFn> lookupEntry(void *handle, const EntryPoint &entry,
                                    const Manifest &manifest, bool cuda) {
  auto fn = reinterpret_cast<EntryFn>(dlsym(handle, entry.symbol.c_str()));
  if (!fn)
    return failure(manifest.moduleFor(cuda) + ": no symbol '" + entry.symbol +
                   "'");
  return fn;
}

} // namespace bnb::tools
