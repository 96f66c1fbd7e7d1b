//===- Escape.h - printable text for one-line messages -----------*- C++ -*-===//
//
// Names and strings read from files (tensor names, manifest fields) may hold
// newlines or terminal escape sequences. Every message the tools print passes
// through escapeForMessage so that it stays one line and cannot drive the
// terminal. Depends on LLVMSupport only.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_ESCAPE_H
#define BNB_SUPPORT_ESCAPE_H

#include "llvm/ADT/StringRef.h"

#include <string>

namespace bnb {

/// `text` with C0 controls, DEL, the C1 controls (U+0080-U+009F in UTF-8)
/// and invalid UTF-8 bytes written as \n, \t, \r, \xNN or \u00NN. Printable
/// ASCII (backslashes included, so that escaping twice changes nothing) and
/// valid multi-byte UTF-8 are kept.
std::string escapeForMessage(llvm::StringRef text);

} // namespace bnb

#endif // BNB_SUPPORT_ESCAPE_H
