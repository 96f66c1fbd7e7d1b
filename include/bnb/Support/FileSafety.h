//===- FileSafety.h - inputs the tools read, outputs they may write -*- C++ -*-===//
//
// The rules every tool follows with files (docs/file-safety.md):
//  - an input that exists must be a regular file (a directory, FIFO or
//    device would hang a reader or make it grow without bound);
//  - an output never is, contains or replaces one of the tool's inputs,
//    compared by device and inode, not by path text;
//  - an existing output file must be a regular file, an existing artifact
//    a directory holding only an artifact's files;
//  - outputs are built under a temporary name and renamed into place; a
//    temporary directory is removed on every failure path, including a
//    fatal error, SIGINT/SIGTERM/SIGHUP and a crash.
//
// Depends on LLVMSupport only.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_FILESAFETY_H
#define BNB_SUPPORT_FILESAFETY_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>

namespace bnb {

/// Refuses `path` when it exists and is not a regular file (after following
/// links): "'PATH' is a directory, not a regular file". A missing file
/// passes; the reader reports it.
llvm::Error checkRegularInput(llvm::StringRef path);

/// The first of `inputs` that is the same file as `path` (device and
/// inode), if any. Missing paths match nothing.
std::optional<std::string> findSameFile(llvm::StringRef path,
                                        llvm::ArrayRef<std::string> inputs);

/// The first of `inputs` that `dir` is or contains (compared by device and
/// inode along each input's parent directories), if any.
std::optional<std::string> findContainedInput(
    llvm::StringRef dir, llvm::ArrayRef<std::string> inputs);

/// Checks `output` as a file a tool is about to write: it must not be one of
/// `inputs`, and if it exists it must be a regular file. Errors: "'OUT' is
/// the input file 'IN'", "'OUT' exists and is not a regular file". Whether
/// an existing file may be replaced is the tool's decision (--force).
llvm::Error checkOutputFile(llvm::StringRef output,
                            llvm::ArrayRef<std::string> inputs);

/// True when `dir` holds nothing but an artifact's files (manifest.json,
/// model.so, ...; no subdirectory) and its manifest.json declares the
/// bnb-artifact format.
bool looksLikeArtifact(llvm::StringRef dir);

/// Checks `output` as an artifact directory about to be written: if it
/// exists, `replace` must be set, it must not be or contain one of `inputs`,
/// and it must be an artifact (looksLikeArtifact) or empty: a tool never
/// replaces another directory.
llvm::Error checkArtifactOutput(llvm::StringRef output,
                                llvm::ArrayRef<std::string> inputs,
                                bool replace);

/// True when the last component of `path` is the name of a TempDirectory
/// (NAME.tmp-XXXXXX, or NAME.old-XXXXXX while an old artifact is set
/// aside): the remains of an interrupted tool, never an artifact.
bool isTemporaryDirectoryName(llvm::StringRef path);

/// A directory in which a tool builds a directory output. It is removed with
/// everything in it when the object is destroyed uncommitted, at exit
/// (report_fatal_error exits), on SIGINT, SIGTERM and SIGHUP, and on a
/// crash signal (before LLVM's handler prints the stack trace, which may
/// deadlock). The directory must stay flat (files only).
class TempDirectory {
public:
  /// Creates `destination`.tmp-XXXXXX beside `destination`.
  static llvm::Expected<std::unique_ptr<TempDirectory>>
  create(llvm::StringRef destination);

  ~TempDirectory();
  TempDirectory(const TempDirectory &) = delete;
  TempDirectory &operator=(const TempDirectory &) = delete;

  /// The temporary directory.
  llvm::StringRef path() const { return dir; }

  /// Renames the directory to `destination`. An existing directory there is
  /// replaced atomically: renamed aside (NAME.old-XXXXXX), the new one renamed
  /// in, then the old one removed; if the second rename fails the old one is
  /// put back.
  llvm::Error commit(llvm::StringRef destination);

private:
  explicit TempDirectory(llvm::StringRef dir);
  llvm::SmallString<256> dir;
  int slot = -1;
  bool committed = false;
};

} // namespace bnb

#endif // BNB_SUPPORT_FILESAFETY_H
