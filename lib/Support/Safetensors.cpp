//===- Safetensors.cpp - safetensors reader -------------------------------===//

#include "bnb/Support/Safetensors.h"
#include "bnb/Support/BoundedJson.h"
#include "bnb/Support/Escape.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include "llvm/Support/Process.h"

#include <algorithm>
#include <set>
#include <tuple>

#if defined(__linux__)
#include <sys/mman.h>
#endif

using namespace bnb;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

uint64_t SafetensorsTensor::numElements() const {
  uint64_t count = 1;
  for (int64_t dim : shape)
    count *= static_cast<uint64_t>(dim);
  return count;
}

namespace {

/// An error "'<file>': <message>".
Error fileError(StringRef file, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "'" + escapeForMessage(file) + "': " +
                                     message);
}

/// A non-negative integer JSON value, or nullopt.
std::optional<uint64_t> getUnsigned(const llvm::json::Value &value) {
  if (std::optional<int64_t> v = value.getAsInteger())
    return *v >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(*v))
                   : std::nullopt;
  return value.getAsUINT64();
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// Validates one tensor entry; `tensor.name` is already set.
Error parseTensorEntry(StringRef file, const llvm::json::Value &value,
                       SafetensorsTensor &tensor) {
  std::string what = "tensor '" + escapeForMessage(tensor.name) + "'";
  const llvm::json::Object *entry = value.getAsObject();
  if (!entry)
    return fileError(file, what + " is not a JSON object");
  for (const auto &kv : *entry) {
    StringRef key = kv.first;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return fileError(file, what + " has an unknown field '" + escapeForMessage(key) + "'");
  }

  const llvm::json::Value *dtype = entry->get("dtype");
  if (!dtype)
    return fileError(file, what + " has no 'dtype'");
  std::optional<StringRef> dtypeName = dtype->getAsString();
  if (!dtypeName)
    return fileError(file, what + ": 'dtype' is not a string");
  std::optional<DType> dt = parseSafetensorsDType(*dtypeName);
  if (!dt)
    return fileError(file,
                     what + " has an unsupported dtype '" +
                               escapeForMessage(*dtypeName) + "'");
  tensor.dtype = *dt;

  const llvm::json::Value *shapeValue = entry->get("shape");
  if (!shapeValue)
    return fileError(file, what + " has no 'shape'");
  const llvm::json::Array *shape = shapeValue->getAsArray();
  if (!shape)
    return fileError(file, what + ": 'shape' is not an array");
  uint64_t elements = 1;
  bool overflow = false;
  for (const llvm::json::Value &dimValue : *shape) {
    std::optional<uint64_t> dim = getUnsigned(dimValue);
    if (!dim || *dim > static_cast<uint64_t>(INT64_MAX))
      return fileError(file, what + ": 'shape' holds something other than a "
                                    "non-negative integer");
    tensor.shape.push_back(static_cast<int64_t>(*dim));
    if (*dim != 0 && elements > UINT64_MAX / *dim)
      overflow = true;
    elements *= *dim;
  }
  uint64_t itemSize = dtypeSize(*dt);
  if (overflow ||
      (elements != 0 && (elements > UINT64_MAX / itemSize ||
                         elements > static_cast<uint64_t>(INT64_MAX))))
    return fileError(file, what + ": the size of shape " +
                               formatShape(tensor.shape) +
                               " overflows 64 bits");

  const llvm::json::Value *offsetsValue = entry->get("data_offsets");
  if (!offsetsValue)
    return fileError(file, what + " has no 'data_offsets'");
  const llvm::json::Array *offsets = offsetsValue->getAsArray();
  std::optional<uint64_t> begin, end;
  if (offsets && offsets->size() == 2) {
    begin = getUnsigned((*offsets)[0]);
    end = getUnsigned((*offsets)[1]);
  }
  if (!begin || !end)
    return fileError(file, what + ": 'data_offsets' is not a pair of "
                                  "non-negative integers");
  if (*begin > *end)
    return fileError(file, what + llvm::formatv(": data_offsets [{0}, {1}] "
                                                "end before they begin",
                                                *begin, *end));
  tensor.begin = *begin;
  tensor.end = *end;
  if (*end - *begin != elements * itemSize)
    return fileError(
        file,
        what + llvm::formatv(": data_offsets [{0}, {1}] hold {2} "
                             "bytes but {3} of {4} need {5}",
                             *begin, *end, *end - *begin, tensor.numElements(),
                             dtypeSafetensorsName(*dt), elements * itemSize));
  return Error::success();
}

/// Checks what llvm::json::parse lets through but the safetensors format
/// forbids, on the text of the header (valid JSON, nesting bounded): a key
/// twice in one object (llvm::json keeps one of them), and numbers with a
/// fraction or an exponent (`1.0`, `64e0`: llvm::json reads them as
/// integers; every number of a header is an integer).
Error checkHeaderTokens(StringRef file, StringRef json) {
  struct Frame {
    bool isObject;
    bool expectKey;
    std::set<std::string> keys;
  };
  std::vector<Frame> stack;
  std::string tensor; // the top-level key being read, once inside it
  auto where = [&]() -> std::string {
    return stack.size() > 1 ? "tensor '" + escapeForMessage(tensor) + "'"
                            : std::string("header");
  };
  for (size_t i = 0, e = json.size(); i < e; ++i) {
    char c = json[i];
    if (c == '"') {
      size_t begin = i;
      for (++i; i < e && json[i] != '"'; ++i)
        if (json[i] == '\\')
          ++i;
      if (stack.empty() || !stack.back().isObject || !stack.back().expectKey)
        continue;
      // Keys compare decoded: "a" and its \\u escape are one key.
      Expected<llvm::json::Value> key =
          llvm::json::parse(json.slice(begin, i + 1));
      std::string text = key && key->getAsString() ? key->getAsString()->str()
                                                   : std::string();
      if (!key)
        llvm::consumeError(key.takeError());
      Frame &frame = stack.back();
      frame.expectKey = false;
      if (!frame.keys.insert(text).second)
        return fileError(file, stack.size() == 1
                                   ? "header has the key '" +
                                         escapeForMessage(text) + "' twice"
                                   : where() + " has the field '" +
                                         escapeForMessage(text) + "' twice");
      if (stack.size() == 1)
        tensor = text;
    } else if (c == '{' || c == '[') {
      stack.push_back({c == '{', c == '{', {}});
    } else if (c == '}' || c == ']') {
      if (!stack.empty())
        stack.pop_back();
    } else if (c == ',') {
      if (!stack.empty() && stack.back().isObject)
        stack.back().expectKey = true;
    } else if (c == '-' || llvm::isDigit(c)) {
      size_t begin = i;
      while (i + 1 < e && (llvm::isDigit(json[i + 1]) ||
                           StringRef(".eE+-").contains(json[i + 1])))
        ++i;
      StringRef number = json.slice(begin, i + 1);
      if (number.find_first_of(".eE") != StringRef::npos)
        return fileError(file, where() + " holds the number '" + number +
                                   "', which is not an integer");
    }
  }
  return Error::success();
}

} // namespace

Expected<SafetensorsFile> SafetensorsFile::open(StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false,
                                  /*IsVolatile=*/false);
  if (!buffer)
    return fileError(path, "cannot open: " + buffer.getError().message());
  return fromBuffer(std::move(*buffer), path);
}

Expected<SafetensorsFile>
SafetensorsFile::fromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer,
                            StringRef name) {
  StringRef image = buffer->getBuffer();
  if (image.size() < 8)
    return fileError(name, llvm::formatv("{0} bytes is too short for the "
                                         "8-byte header length",
                                         image.size()));
  uint64_t headerSize = llvm::support::endian::read64le(image.data());
  if (headerSize > kSafetensorsMaxHeaderSize)
    return fileError(name,
                     llvm::formatv("header length {0} exceeds the "
                                   "{1}-byte limit",
                                   headerSize, kSafetensorsMaxHeaderSize));
  if (headerSize > image.size() - 8)
    return fileError(name, llvm::formatv("header length {0} exceeds the {1} "
                                         "bytes after the length field",
                                         headerSize, image.size() - 8));
  StringRef json = image.substr(8, headerSize);
  size_t badOffset = 0;
  if (!llvm::json::isUTF8(json, &badOffset))
    return fileError(name, llvm::formatv("header is not valid UTF-8 (byte "
                                         "{0})",
                                         badOffset));
  Expected<llvm::json::Value> parsed = parseBoundedJson(json);
  if (!parsed)
    return fileError(name, "header is not valid JSON: " +
                               llvm::toString(parsed.takeError()));
  llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return fileError(name, "header is not a JSON object");
  if (Error error = checkHeaderTokens(name, json))
    return std::move(error);

  SafetensorsFile file;
  file.filePath = name.str();
  file.headerBytes = headerSize;
  file.dataBytes = image.size() - 8 - headerSize;
  for (const auto &kv : *root) {
    StringRef key = kv.first;
    if (key == "__metadata__") {
      const llvm::json::Object *meta = kv.second.getAsObject();
      if (!meta)
        return fileError(name, "'__metadata__' is not a JSON object");
      for (const auto &entry : *meta) {
        std::optional<StringRef> value = entry.second.getAsString();
        if (!value)
          return fileError(name, "'__metadata__' entry '" +
                                     escapeForMessage(entry.first.str()) +
                                     "' is not a string");
        file.metadataMap[entry.first.str()] = value->str();
      }
      continue;
    }
    SafetensorsTensor tensor;
    tensor.name = key.str();
    if (Error err = parseTensorEntry(name, kv.second, tensor))
      return std::move(err);
    if (tensor.end > file.dataBytes)
      return fileError(name, llvm::formatv("tensor '{0}': data_offsets [{1}, "
                                           "{2}] are out of bounds of the "
                                           "{3}-byte data section",
                                           escapeForMessage(tensor.name),
                                           tensor.begin,
                                           tensor.end, file.dataBytes));
    file.tensorList.push_back(std::move(tensor));
  }

  // The tensors must tile the data section: sorted by offsets, each begins
  // where the previous one ended, and the last one ends at the end of file.
  llvm::sort(file.tensorList, [](const SafetensorsTensor &a,
                                 const SafetensorsTensor &b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  const SafetensorsTensor *previous = nullptr;
  for (const SafetensorsTensor &tensor : file.tensorList) {
    if (tensor.begin < expected)
      return fileError(name, llvm::formatv("tensors '{0}' and '{1}' overlap "
                                           "in the data section",
                                           escapeForMessage(previous->name),
                                           escapeForMessage(tensor.name)));
    if (tensor.begin > expected)
      return fileError(name,
                       llvm::formatv("bytes [{0}, {1}) of the data "
                                     "section before tensor '{2}' "
                                     "belong to no tensor",
                                     expected, tensor.begin,
                                     escapeForMessage(tensor.name)));
    expected = tensor.end;
    if (tensor.numBytes() != 0)
      previous = &tensor;
  }
  if (expected != file.dataBytes)
    return fileError(name, llvm::formatv("bytes [{0}, {1}) at the end of the "
                                         "data section belong to no tensor",
                                         expected, file.dataBytes));
  for (size_t i = 0; i < file.tensorList.size(); ++i)
    file.index[file.tensorList[i].name] = i;
  file.buffer = std::move(buffer);
  return std::move(file);
}

const SafetensorsTensor *SafetensorsFile::lookup(StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensorList[it->second];
}

llvm::ArrayRef<uint8_t>
SafetensorsFile::bytes(const SafetensorsTensor &tensor) const {
  const uint8_t *data =
      reinterpret_cast<const uint8_t *>(buffer->getBufferStart()) + 8 +
      headerBytes;
  return llvm::ArrayRef<uint8_t>(data + tensor.begin, tensor.numBytes());
}

bool SafetensorsFile::isAligned(const SafetensorsTensor &tensor) const {
  return reinterpret_cast<uintptr_t>(bytes(tensor).data()) %
             dtypeSize(tensor.dtype) ==
         0;
}

void SafetensorsFile::releaseMappedPages() const {
  if (buffer->getBufferKind() != llvm::MemoryBuffer::MemoryBuffer_MMap)
    return;
#if defined(__linux__)
  // MemoryBuffer::dontNeedIfMmap uses posix_madvise(POSIX_MADV_DONTNEED),
  // which glibc ignores; Linux's madvise(MADV_DONTNEED) really unmaps the
  // pages of this read-only shared mapping (they stay in the page cache).
  uintptr_t begin = reinterpret_cast<uintptr_t>(buffer->getBufferStart());
  uintptr_t end = reinterpret_cast<uintptr_t>(buffer->getBufferEnd());
  uintptr_t page =
      static_cast<uintptr_t>(llvm::sys::Process::getPageSizeEstimate());
  begin &= ~(page - 1);
  ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
#else
  buffer->dontNeedIfMmap();
#endif
}
