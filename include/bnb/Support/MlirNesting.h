//===- MlirNesting.h - nesting limit of textual MLIR input -------*- C++ -*-===//
//
// MLIR's parser, verifier and printer recurse once per nested region, type
// or attribute and have no depth guard of their own: a few thousand nested
// regions or tens of thousands of nested types overflow the stack. The tools
// therefore scan textual MLIR (without recursing) before parsing it and
// refuse nesting deeper than a limit no real graph comes near
// (docs/security.md). Bytecode input is left to MLIR's bytecode reader.
//
// Depends on LLVMSupport only.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_MLIRNESTING_H
#define BNB_SUPPORT_MLIRNESTING_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace bnb {

/// The deepest nesting of braces, brackets, parentheses and angle brackets
/// the tools parse in textual MLIR.
constexpr unsigned kMlirMaxNesting = 256;

/// Fails with "<name>:<line>:<column>: ..." when the textual MLIR in `text`
/// nests deeper than `maxDepth`; strings and `//` comments are skipped.
/// MLIR bytecode (which starts with "ML\xEFR") is not scanned.
llvm::Error checkMlirNesting(llvm::StringRef text, llvm::StringRef name,
                             unsigned maxDepth = kMlirMaxNesting);

} // namespace bnb

#endif // BNB_SUPPORT_MLIRNESTING_H
