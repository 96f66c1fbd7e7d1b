//===- ToolCommandLine.h - command-line parsing of the tools -----*- C++ -*-===//
//
// llvm::cl reports a bad option on several lines prefixed with the program
// name; the tools promise one `error:` line (docs/security.md). This parses
// the command line with the errors captured and reprints them that way.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_TOOLCOMMANDLINE_H
#define BNB_SUPPORT_TOOLCOMMANDLINE_H

#include "llvm/ADT/StringRef.h"

namespace bnb {

/// llvm::cl::ParseCommandLineOptions; on a bad command line, prints one line
/// "error: ..." to stderr and returns false (the caller exits with 1).
bool parseToolCommandLine(int argc, const char *const *argv,
                          llvm::StringRef overview);

} // namespace bnb

#endif // BNB_SUPPORT_TOOLCOMMANDLINE_H
