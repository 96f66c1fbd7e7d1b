//===- Session.h - what bnb-run's modes share ---------------------*- C++ -*-===//
//
// Helpers of bnb-run's run and generate modes: one-line errors, the
// runtime's error state, buffers owned through the runtime, checksums,
// staging weights where the compiled code reads them, and loading the
// compiled module for the CPU or the GPU.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TOOLS_BNBRUN_SESSION_H
#define BNB_TOOLS_BNBRUN_SESSION_H

#include "bnb/Support/Safetensors.h"
#include "bnb/Target/Manifest.h"
#include "bnb_runtime.h"
#include "bnb_ukernels.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace bnb::tools {

/// The packed entry point of a compiled module.
using EntryFn = void (*)(void **);

/// A one-line error for the user.
llvm::Error failure(const llvm::Twine &message);

/// Buffers bnb-run allocated through the runtime, freed on every exit path.
class Allocations {
public:
  explicit Allocations(bool device) : device(device) {}
  ~Allocations() { release(); }

  void *allocate(size_t bytes, int category, size_t alignment) {
    void *ptr = device ? bnbrt_alloc(bytes ? bytes : 1, category)
                       : bnbrt_host_alloc(bytes ? bytes : 1, alignment,
                                          category);
    if (ptr)
      owned.push_back(ptr);
    return ptr;
  }

  /// Declares the `bytes` host bytes at `ptr` to the microkernels as
  /// weights nothing writes until release(): they may keep a copy repacked
  /// for batch 1 (bnbrt_uk_weights_register). A range they refuse, such as
  /// one overlapping another, is simply read as it is.
  void immutable(const void *ptr, size_t bytes) {
    if (!device && bnbrt_uk_weights_register(ptr, bytes) == 0)
      registered.push_back(ptr);
  }

  void release() {
    // Before anything is freed or unmapped: the copies go first.
    for (const void *ptr : registered)
      bnbrt_uk_weights_release(ptr);
    registered.clear();
    for (void *ptr : owned)
      device ? bnbrt_free(ptr) : bnbrt_host_free(ptr);
    owned.clear();
  }

private:
  bool device;
  std::vector<void *> owned;
  std::vector<const void *> registered;
};

/// "[d0, d1, ...]".
std::string shapeString(llvm::ArrayRef<int64_t> shape);

/// "F16 [d0, d1]".
std::string describe(::bnb::DType dtype, llvm::ArrayRef<int64_t> shape);

/// Verifies every checksum the manifest lists.
llvm::Error verifyChecksums(const Manifest &manifest, llvm::StringRef dir);

/// Refuses token ids outside [0, vocabSize) in the I64 or I32 `tensor`
/// (transformers raises where the graph would clamp).
llvm::Error checkTokenIds(const SafetensorsFile &file,
                          const SafetensorsTensor &tensor,
                          llvm::StringRef name, int64_t vocabSize);

/// The weight tensor for `spec`. Packed 4-bit weights may be serialized in
/// another quant_storage dtype; the compiled code views the same bytes.
llvm::Expected<const SafetensorsTensor *>
findWeight(const SafetensorsFile &file, const TensorSpec &spec);

/// The runtime's first error, if any, prefixed with `what`.
llvm::Error checkRuntime(const llvm::Twine &what);

/// Places `bytes` where the compiled code can read them: device memory, or
/// host memory aligned for the element type (the mapping itself when it
/// already is).
llvm::Expected<void *> stage(Allocations &allocs, bool cuda,
                             llvm::ArrayRef<uint8_t> bytes,
                             size_t elementSize, int category,
                             llvm::StringRef name);

/// Checks the manifest's CPU features against the machine (CPU builds),
/// sets the microkernels' thread count (0: the default) and dlopens the
/// module for the CPU or the GPU. Returns the handle.
llvm::Expected<void *> loadModule(const Manifest &manifest,
                                  llvm::StringRef artifactDir, bool cuda,
                                  unsigned threads);

/// The packed entry point `entry` of a loaded module.
llvm::Expected<EntryFn> lookupEntry(void *handle, const EntryPoint &entry,
                                    const Manifest &manifest, bool cuda);

} // namespace bnb::tools

#endif // BNB_TOOLS_BNBRUN_SESSION_H
