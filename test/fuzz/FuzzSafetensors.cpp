//===- FuzzSafetensors.cpp - libFuzzer target: the safetensors reader -----===//
//
// Validates an arbitrary file image as a safetensors file and, when it is
// accepted, touches every tensor's bytes the way the tools do.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/Safetensors.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::unique_ptr<llvm::MemoryBuffer> buffer =
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "fuzz.safetensors");
  llvm::Expected<bnb::SafetensorsFile> file =
      bnb::SafetensorsFile::fromBuffer(std::move(buffer), "fuzz.safetensors");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  // Accepted: every tensor's bytes lie inside the image and match its shape.
  uint64_t sum = 0;
  for (const bnb::SafetensorsTensor &tensor : file->tensors()) {
    llvm::ArrayRef<uint8_t> bytes = file->bytes(tensor);
    if (bytes.size() != tensor.numElements() * ::bnb::dtypeSize(tensor.dtype))
      __builtin_trap();
    if (!bytes.empty())
      sum += bytes.front() + bytes.back();
    if (file->lookup(tensor.name) == nullptr)
      __builtin_trap();
  }
  (void)file->metadata();
  return static_cast<int>(sum & 0);
}
