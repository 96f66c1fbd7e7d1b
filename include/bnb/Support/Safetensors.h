//===- Safetensors.h - safetensors reader and writer ------------*- C++ -*-===//
//
// The safetensors format: an 8-byte little-endian header length n, n bytes of
// UTF-8 JSON (an object mapping tensor names to {"dtype", "shape",
// "data_offsets": [begin, end]} plus an optional "__metadata__" object of
// strings), then the data section the offsets index into.
//
// The reader memory-maps the file and validates the whole header before
// anything else sees it; every error names the file and the field or tensor
// at fault. It is as strict as the reference implementation: the tensors
// must tile the data section exactly (no gap, no overlap, no trailing byte).
// Tensor data is not necessarily aligned for its dtype (other writers do not
// sort by alignment); read it with bytes() and memcpy-style loads (all of
// bnb::quant's loaders are), or copy it with copyAs().
//
// The writer lays tensors out as the reference writer does -- by descending
// dtype alignment, then by name -- pads the JSON with spaces to a multiple of
// 8 bytes, writes into a temporary file beside the destination and renames it
// into place on commit(); without commit() nothing is left behind. Tensor
// bytes may be written in any order and in pieces, so a caller producing one
// tensor at a time never holds more than that tensor.
//
// Depends on LLVMSupport only (see lib/Support/CMakeLists.txt).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_SAFETENSORS_H
#define BNB_SUPPORT_SAFETENSORS_H

#include "bnb/Support/DType.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cassert>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bnb {

/// The largest header the reference implementation accepts (100 MB).
constexpr uint64_t kSafetensorsMaxHeaderSize = 100000000;

/// One tensor entry of a safetensors header.
struct SafetensorsTensor {
  std::string name;
  ::bnb::DType dtype = ::bnb::DType::U8;
  llvm::SmallVector<int64_t, 4> shape;
  /// Byte offsets into the data section, [begin, end).
  uint64_t begin = 0;
  uint64_t end = 0;

  /// Product of the shape (1 for a 0-dim tensor).
  uint64_t numElements() const;
  /// end - begin, which validation guarantees is numElements() * itemsize.
  uint64_t numBytes() const { return end - begin; }
};

/// A validated, memory-mapped safetensors file.
class SafetensorsFile {
public:
  /// Maps `path` and validates its header.
  static llvm::Expected<SafetensorsFile> open(llvm::StringRef path);

  /// Validates the file image in `buffer`; `name` is used in messages.
  static llvm::Expected<SafetensorsFile>
  fromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);

  /// The path (or name) the file was opened with.
  llvm::StringRef path() const { return filePath; }

  /// The tensors in data-section order.
  llvm::ArrayRef<SafetensorsTensor> tensors() const { return tensorList; }

  /// The tensor called `name`, or null.
  const SafetensorsTensor *lookup(llvm::StringRef name) const;

  /// The bytes of `tensor` inside the mapping; not necessarily aligned.
  llvm::ArrayRef<uint8_t> bytes(const SafetensorsTensor &tensor) const;

  /// True if bytes(tensor) is aligned for the tensor's dtype.
  bool isAligned(const SafetensorsTensor &tensor) const;

  /// An aligned copy of the tensor's elements; sizeof(T) must equal the
  /// dtype's size.
  template <typename T>
  std::vector<T> copyAs(const SafetensorsTensor &tensor) const {
    assert(sizeof(T) == ::bnb::dtypeSize(tensor.dtype) && "element size");
    std::vector<T> out(tensor.numBytes() / sizeof(T));
    if (!out.empty())
      std::memcpy(out.data(), bytes(tensor).data(), tensor.numBytes());
    return out;
  }

  /// The "__metadata__" entries (empty when absent).
  const std::map<std::string, std::string> &metadata() const {
    return metadataMap;
  }

  /// Size of the JSON header (the 8-byte length field excluded).
  uint64_t headerSize() const { return headerBytes; }

  /// Size of the data section.
  uint64_t dataSize() const { return dataBytes; }

  /// Releases the pages of the mapping from this process's resident set
  /// (madvise(MADV_DONTNEED) on the read-only mapping; later reads fault the
  /// pages back in). A no-op for small files that were read, not mapped.
  void releaseMappedPages() const;

private:
  SafetensorsFile() = default;

  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::string filePath;
  std::vector<SafetensorsTensor> tensorList;
  llvm::StringMap<size_t> index;
  std::map<std::string, std::string> metadataMap;
  uint64_t headerBytes = 0;
  uint64_t dataBytes = 0;
};

/// A tensor to be written: name, dtype and shape (the size follows).
struct SafetensorsTensorDecl {
  std::string name;
  ::bnb::DType dtype = ::bnb::DType::U8;
  llvm::SmallVector<int64_t, 4> shape;
};

/// The file layout of `tensors`: sorted by descending dtype alignment, then
/// by name, with their data offsets, and the serialized header (8-byte
/// length, compact JSON as serde_json writes it, space padding to a multiple
/// of 8). Fails on duplicate or empty names, the reserved name
/// "__metadata__", negative dimensions or size overflow; `fileName` is used in
/// messages.
llvm::Error
layoutSafetensors(llvm::ArrayRef<SafetensorsTensorDecl> tensors,
                  const std::map<std::string, std::string> &metadata,
                  llvm::StringRef fileName,
                  std::vector<SafetensorsTensor> &layout, std::string &header);

/// Writes a safetensors file atomically (see the file comment).
class SafetensorsWriter {
public:
  /// Lays out `tensors`, creates a temporary file in the directory of `path`
  /// and writes the header to it.
  static llvm::Expected<std::unique_ptr<SafetensorsWriter>>
  create(llvm::StringRef path, llvm::ArrayRef<SafetensorsTensorDecl> tensors,
         const std::map<std::string, std::string> &metadata = {});

  /// Discards the temporary file unless commit() succeeded.
  ~SafetensorsWriter();

  SafetensorsWriter(const SafetensorsWriter &) = delete;
  SafetensorsWriter &operator=(const SafetensorsWriter &) = delete;

  /// Writes all bytes of tensor `name` (exactly its declared size).
  llvm::Error write(llvm::StringRef name, llvm::ArrayRef<uint8_t> bytes);

  /// Appends the next `bytes` of tensor `name`; the pieces of one tensor must
  /// come in order and add up to its size.
  llvm::Error writePart(llvm::StringRef name, llvm::ArrayRef<uint8_t> bytes);

  /// Checks that every tensor was written completely, flushes, and renames
  /// the temporary file to the destination.
  llvm::Error commit();

  /// The layout being written.
  llvm::ArrayRef<SafetensorsTensor> layout() const { return tensorLayout; }

  /// The final path.
  llvm::StringRef path() const { return destination; }

  /// Bytes of the whole file.
  uint64_t fileSize() const { return totalSize; }

private:
  SafetensorsWriter() = default;

  /// The temporary file beside the destination: its path, registered for
  /// removal on a signal before the file was created, and its descriptor.
  struct TempFileHandle {
    std::string path;
    int fd = -1;
  };

  std::string destination;
  std::optional<TempFileHandle> temp;
  std::vector<SafetensorsTensor> tensorLayout;
  llvm::StringMap<size_t> index;
  std::vector<uint64_t> written;
  uint64_t dataStart = 0;
  uint64_t totalSize = 0;
  bool committed = false;
};

} // namespace bnb

#endif // BNB_SUPPORT_SAFETENSORS_H
