//===- MlirParserGuards.h - input the upstream MLIR parser crashes on -*- C++ -*-===//
//
// MLIR 22's custom parsers of linalg.transpose, linalg.broadcast and
// linalg.reduce store the result of parsing their `permutation = [...]` /
// `dimensions = [...]` integer list without checking it: a malformed list
// (`permutation = [1, 0 x]`) makes them dereference a null attribute, and
// mlir-opt, bnb-opt and bnb-compile die with SIGSEGV (found by fuzzing,
// docs/fuzzing.md). Until upstream checks it, the tools scan the text first
// and refuse such a list with one line.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_MLIRPARSERGUARDS_H
#define BNB_SUPPORT_MLIRPARSERGUARDS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace bnb {

/// Fails with "<name>:<line>:<column>: malformed integer list after
/// 'permutation'" when, in the textual MLIR `text`, the custom-form keyword
/// `permutation` or `dimensions` (following a `)`) is followed by `= [`
/// and anything but integers, commas and spaces up to its `]`. Strings and
/// `//` comments are skipped; MLIR bytecode is not scanned.
llvm::Error checkMlirParserGuards(llvm::StringRef text, llvm::StringRef name);

} // namespace bnb

#endif // BNB_SUPPORT_MLIRPARSERGUARDS_H
