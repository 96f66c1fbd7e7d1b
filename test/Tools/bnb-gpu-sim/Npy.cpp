//===- Npy.cpp - minimal NumPy .npy reading and writing -------------------===//

#include "Npy.h"

#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace bnb::sim;

/// The value of `key` in a .npy header dict, e.g. 'descr': '<f4'.
static StringRef headerField(StringRef header, StringRef key) {
  size_t pos = header.find(("'" + key + "'").str());
  if (pos == StringRef::npos)
    return "";
  StringRef rest = header.drop_front(pos + key.size() + 2).ltrim(" :");
  if (rest.starts_with("'"))
    return rest.drop_front().take_until([](char c) { return c == '\''; });
  if (rest.starts_with("("))
    return rest.drop_front().take_until([](char c) { return c == ')'; });
  return rest.take_until([](char c) { return c == ',' || c == '}'; }).trim();
}

Expected<NpyArray> bnb::sim::readNpy(StringRef path) {
  auto buffer = MemoryBuffer::getFile(path);
  if (!buffer)
    return createStringError(buffer.getError(), "cannot read '%s'",
                             path.str().c_str());
  StringRef bytes = (*buffer)->getBuffer();
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return createStringError(inconvertibleErrorCode(),
                             "'%s' is not a .npy file", path.str().c_str());
  unsigned major = static_cast<uint8_t>(bytes[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(bytes[8]) |
                (static_cast<uint8_t>(bytes[9]) << 8);
    headerStart = 10;
  } else {
    headerLen = static_cast<uint8_t>(bytes[8]) |
                (static_cast<uint8_t>(bytes[9]) << 8) |
                (static_cast<uint8_t>(bytes[10]) << 16) |
                (static_cast<uint32_t>(static_cast<uint8_t>(bytes[11])) << 24);
    headerStart = 12;
  }
  StringRef header = bytes.substr(headerStart, headerLen);
  NpyArray array;
  array.dtype = headerField(header, "descr").str();
  if (headerField(header, "fortran_order") == "True")
    return createStringError(inconvertibleErrorCode(),
                             "'%s' is Fortran-ordered", path.str().c_str());
  SmallVector<StringRef> dims;
  headerField(header, "shape").split(dims, ',', -1, /*KeepEmpty=*/false);
  for (StringRef d : dims) {
    int64_t v;
    if (d.trim().getAsInteger(10, v))
      return createStringError(inconvertibleErrorCode(),
                               "bad shape in '%s'", path.str().c_str());
    array.shape.push_back(v);
  }
  StringRef payload = bytes.drop_front(headerStart + headerLen);
  array.data.assign(payload.begin(), payload.end());
  return array;
}

Error bnb::sim::writeNpy(StringRef path, const NpyArray &array) {
  std::string shape;
  for (int64_t d : array.shape)
    shape += std::to_string(d) + ", ";
  if (array.shape.size() > 1)
    shape.resize(shape.size() - 1);
  std::string header = "{'descr': '" + array.dtype +
                       "', 'fortran_order': False, 'shape': (" + shape +
                       "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  return writeToOutput(path, [&](raw_ostream &os) -> Error {
    os << "\x93NUMPY" << '\x01' << '\x00';
    os << static_cast<char>(header.size() & 0xff)
       << static_cast<char>(header.size() >> 8);
    os << header;
    os.write(reinterpret_cast<const char *>(array.data.data()),
             array.data.size());
    return Error::success();
  });
}
