//===- Escape.cpp - printable text for one-line messages ------------------===//

#include "bnb/Support/Escape.h"

#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

std::string bnb::escapeForMessage(llvm::StringRef text) {
  std::string out;
  llvm::raw_string_ostream os(out);
  const auto *bytes = reinterpret_cast<const unsigned char *>(text.data());
  size_t i = 0, e = text.size();
  while (i < e) {
    unsigned char c = bytes[i];
    if (c == '\n') {
      os << "\\n";
    } else if (c == '\t') {
      os << "\\t";
    } else if (c == '\r') {
      os << "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      os << llvm::format("\\x%02x", c);
    } else if (c < 0x80) {
      os << static_cast<char>(c);
    } else {
      unsigned length = llvm::getNumBytesForUTF8(c);
      if (length > e - i ||
          !llvm::isLegalUTF8Sequence(bytes + i, bytes + i + length)) {
        os << llvm::format("\\x%02x", c);
      } else if (c == 0xc2 && bytes[i + 1] < 0xa0) {
        os << llvm::format("\\u%04x", bytes[i + 1]);
        i += length;
        continue;
      } else {
        os.write(text.data() + i, length);
        i += length;
        continue;
      }
    }
    ++i;
  }
  return out;
}
