//===- SafetensorsWriter.cpp - atomic safetensors writer ------------------===//

#include "bnb/Support/Safetensors.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/raw_ostream.h"

using namespace bnb;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {

Error fileError(StringRef file, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "'" + file + "': " + message);
}

/// The rank of a dtype in the reference implementation's Dtype enum, which
/// lists types by increasing alignment; files are laid out by descending
/// rank.
int alignmentRank(DType dt) {
  switch (dt) {
  case DType::Bool:
    return 0;
  case DType::U8:
    return 1;
  case DType::I8:
    return 2;
  case DType::I16:
    return 5;
  case DType::F16:
    return 7;
  case DType::BF16:
    return 8;
  case DType::I32:
    return 9;
  case DType::F32:
    return 11;
  case DType::F64:
    return 12;
  case DType::I64:
    return 13;
  }
  return 0;
}

/// Appends `text` as a JSON string the way serde_json escapes it: quote,
/// backslash and control characters only (short forms where JSON has them,
/// \u00xx with lowercase hex otherwise).
void appendJsonString(std::string &out, StringRef text) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
}

} // namespace

Error bnb::layoutSafetensors(llvm::ArrayRef<SafetensorsTensorDecl> tensors,
                             const std::map<std::string, std::string> &metadata,
                             StringRef fileName,
                             std::vector<SafetensorsTensor> &layout,
                             std::string &header) {
  layout.clear();
  llvm::StringSet<> names;
  for (const SafetensorsTensorDecl &decl : tensors) {
    if (decl.name.empty())
      return fileError(fileName, "a tensor has an empty name");
    if (decl.name == "__metadata__")
      return fileError(fileName, "'__metadata__' is not a valid tensor name");
    if (!names.insert(decl.name).second)
      return fileError(fileName, "tensor '" + decl.name + "' declared twice");
    SafetensorsTensor tensor;
    tensor.name = decl.name;
    tensor.dtype = decl.dtype;
    tensor.shape = decl.shape;
    uint64_t bytes = dtypeSize(decl.dtype);
    for (int64_t dim : decl.shape) {
      if (dim < 0)
        return fileError(fileName,
                         "tensor '" + decl.name + "' has a negative dimension");
      if (dim != 0 && bytes > UINT64_MAX / 2 / static_cast<uint64_t>(dim))
        return fileError(fileName, "tensor '" + decl.name + "' is too large");
      bytes *= static_cast<uint64_t>(dim);
    }
    tensor.end = bytes; // Size for now; offsets below.
    layout.push_back(std::move(tensor));
  }
  llvm::sort(layout,
             [](const SafetensorsTensor &a, const SafetensorsTensor &b) {
               int ra = alignmentRank(a.dtype), rb = alignmentRank(b.dtype);
               if (ra != rb)
                 return ra > rb;
               return a.name < b.name;
             });
  uint64_t offset = 0;
  for (SafetensorsTensor &tensor : layout) {
    uint64_t size = tensor.end;
    tensor.begin = offset;
    tensor.end = offset + size;
    offset += size;
  }

  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (const auto &[key, value] : metadata) {
      if (!first)
        json += ',';
      first = false;
      appendJsonString(json, key);
      json += ':';
      appendJsonString(json, value);
    }
    json += '}';
    first = false;
  }
  for (const SafetensorsTensor &tensor : layout) {
    if (!first)
      json += ',';
    first = false;
    appendJsonString(json, tensor.name);
    json += ":{\"dtype\":\"";
    json += dtypeSafetensorsName(tensor.dtype);
    json += "\",\"shape\":[";
    for (size_t i = 0; i < tensor.shape.size(); ++i) {
      if (i)
        json += ',';
      json += std::to_string(tensor.shape[i]);
    }
    json += "],\"data_offsets\":[" + std::to_string(tensor.begin) + "," +
            std::to_string(tensor.end) + "]}";
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');
  if (json.size() > kSafetensorsMaxHeaderSize)
    return fileError(fileName,
                     llvm::formatv("header of {0} bytes exceeds the "
                                   "{1}-byte limit",
                                   json.size(), kSafetensorsMaxHeaderSize));
  header.assign(8, '\0');
  llvm::support::endian::write64le(header.data(), json.size());
  header += json;
  return Error::success();
}

Expected<std::unique_ptr<SafetensorsWriter>>
SafetensorsWriter::create(StringRef path,
                          llvm::ArrayRef<SafetensorsTensorDecl> tensors,
                          const std::map<std::string, std::string> &metadata) {
  std::unique_ptr<SafetensorsWriter> writer(new SafetensorsWriter());
  writer->destination = path.str();
  std::string header;
  if (Error err = layoutSafetensors(tensors, metadata, path,
                                    writer->tensorLayout, header))
    return std::move(err);
  for (size_t i = 0; i < writer->tensorLayout.size(); ++i)
    writer->index[writer->tensorLayout[i].name] = i;
  writer->written.assign(writer->tensorLayout.size(), 0);
  writer->dataStart = header.size();
  writer->totalSize =
      header.size() +
      (writer->tensorLayout.empty() ? 0 : writer->tensorLayout.back().end);

  // The temporary lives beside the destination so that the final rename
  // stays within one file system.
  llvm::SmallString<256> model(path);
  llvm::sys::path::remove_filename(model);
  llvm::sys::path::append(model, "." + llvm::sys::path::filename(path) +
                                     ".tmp-%%%%%%%%");
  // The name is registered for removal on a signal before the file exists:
  // a signal reaches whichever thread does not block it, so holding it back
  // on this thread cannot close the window between creating the file and
  // registering it (TempFile::create has that window).
  llvm::SmallString<256> tempPath;
  int fd = -1;
  for (int attempt = 0;; ++attempt) {
    llvm::sys::fs::createUniquePath(model, tempPath, /*MakeAbsolute=*/false);
    std::string why;
    if (llvm::sys::RemoveFileOnSignal(tempPath, &why))
      return fileError(path, "cannot create a temporary file beside it: " +
                                 why);
    std::error_code ec = llvm::sys::fs::openFileForReadWrite(
        tempPath, fd, llvm::sys::fs::CD_CreateNew, llvm::sys::fs::OF_None);
    if (!ec)
      break;
    llvm::sys::DontRemoveFileOnSignal(tempPath);
    if (ec != std::errc::file_exists || attempt == 100)
      return fileError(path, "cannot create a temporary file beside it: " +
                                 ec.message());
  }
  writer->temp = TempFileHandle{std::string(tempPath), fd};
  llvm::raw_fd_ostream os(writer->temp->fd, /*shouldClose=*/false);
  os << header;
  os.flush();
  if (os.has_error()) {
    std::error_code ec = os.error();
    os.clear_error();
    return fileError(path, "cannot write: " + ec.message());
  }
  return std::move(writer);
}

SafetensorsWriter::~SafetensorsWriter() {
  if (!temp || committed)
    return;
  llvm::sys::Process::SafelyCloseFileDescriptor(temp->fd);
  llvm::sys::fs::remove(temp->path);
  llvm::sys::DontRemoveFileOnSignal(temp->path);
}

Error SafetensorsWriter::write(StringRef name, llvm::ArrayRef<uint8_t> bytes) {
  auto it = index.find(name);
  if (it == index.end())
    return fileError(destination, "tensor '" + name + "' was not declared");
  const SafetensorsTensor &tensor = tensorLayout[it->second];
  if (written[it->second] != 0 || bytes.size() != tensor.numBytes())
    return fileError(destination,
                     llvm::formatv("tensor '{0}' takes {1} bytes, got {2}",
                                   name, tensor.numBytes(),
                                   written[it->second] + bytes.size()));
  return writePart(name, bytes);
}

Error SafetensorsWriter::writePart(StringRef name,
                                   llvm::ArrayRef<uint8_t> bytes) {
  if (!temp || committed)
    return fileError(destination, "the writer is closed");
  auto it = index.find(name);
  if (it == index.end())
    return fileError(destination, "tensor '" + name + "' was not declared");
  const SafetensorsTensor &tensor = tensorLayout[it->second];
  uint64_t &done = written[it->second];
  if (done + bytes.size() > tensor.numBytes())
    return fileError(destination,
                     llvm::formatv("tensor '{0}' takes {1} bytes, got {2}",
                                   name, tensor.numBytes(),
                                   done + bytes.size()));
  if (bytes.empty())
    return Error::success();
  llvm::raw_fd_ostream os(temp->fd, /*shouldClose=*/false);
  os.seek(dataStart + tensor.begin + done);
  os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  os.flush();
  if (os.has_error()) {
    std::error_code ec = os.error();
    os.clear_error();
    return fileError(destination, "cannot write: " + ec.message());
  }
  done += bytes.size();
  return Error::success();
}

Error SafetensorsWriter::commit() {
  if (!temp || committed)
    return fileError(destination, "the writer is closed");
  for (size_t i = 0; i < tensorLayout.size(); ++i)
    if (written[i] != tensorLayout[i].numBytes())
      return fileError(destination,
                       llvm::formatv("tensor '{0}' got {1} of its {2} bytes",
                                     tensorLayout[i].name, written[i],
                                     tensorLayout[i].numBytes()));
  if (std::error_code ec = llvm::sys::fs::rename(temp->path, destination))
    return fileError(destination,
                     "cannot rename the temporary file into place: " +
                         ec.message());
  committed = true;
  llvm::sys::DontRemoveFileOnSignal(temp->path);
  if (std::error_code ec =
          llvm::sys::Process::SafelyCloseFileDescriptor(temp->fd))
    return fileError(destination, "cannot close: " + ec.message());
  return Error::success();
}
