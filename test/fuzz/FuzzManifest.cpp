//===- FuzzManifest.cpp - libFuzzer target: the artifact manifest + loader ===//
//
// The input is a manifest.json text, optionally followed by a NUL byte and
// the image of the artifact's weights.safetensors. The target does what
// bnb-run does before it calls the module: parse and validate the manifest,
// size every entry point's tensors, choose the module to load, and bind each
// weight of the weights file to its entry-point signature.
//
//===----------------------------------------------------------------------===//

#include "Session.h"

#include "bnb/Support/Safetensors.h"
#include "bnb/Target/Manifest.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef input(reinterpret_cast<const char *>(data), size);
  auto [text, weightsImage] = input.split('\0');
  llvm::Expected<bnb::Manifest> manifest =
      bnb::parseManifest(text, "fuzz/manifest.json");
  if (!manifest) {
    llvm::consumeError(manifest.takeError());
    return 0;
  }
  (void)manifest->moduleFor(/*cuda=*/false);
  (void)manifest->moduleFor(/*cuda=*/true);
  int64_t total = 0;
  for (const bnb::EntryPoint &entry : manifest->entryPoints) {
    if (manifest->lookup(entry.name) == nullptr)
      __builtin_trap();
    for (const auto *list : {&entry.inputs, &entry.weights, &entry.outputs})
      for (const bnb::TensorSpec &spec : *list)
        total += spec.numBytes();
  }
  std::unique_ptr<llvm::MemoryBuffer> buffer =
      llvm::MemoryBuffer::getMemBufferCopy(weightsImage, "weights");
  llvm::Expected<bnb::SafetensorsFile> weights =
      bnb::SafetensorsFile::fromBuffer(std::move(buffer),
                                       "fuzz/weights.safetensors");
  if (!weights) {
    llvm::consumeError(weights.takeError());
    return 0;
  }
  for (const bnb::EntryPoint &entry : manifest->entryPoints)
    for (const bnb::TensorSpec &spec : entry.weights) {
      llvm::Expected<const bnb::SafetensorsTensor *> tensor =
          bnb::run::findWeight(*weights, spec);
      if (!tensor) {
        llvm::consumeError(tensor.takeError());
        continue;
      }
      (void)bnb::checksumOf(weights->bytes(**tensor));
    }
  return static_cast<int>(total & 0);
}
