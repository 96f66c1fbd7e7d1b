//===- FileSafety.cpp - inputs the tools read, outputs they may write -----===//

#include "bnb/Support/FileSafety.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <atomic>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#include <dirent.h>

namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace bnb {
namespace {

llvm::Error failure(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// "a directory", "a FIFO", ... for a message.
const char *describeType(fs::file_type type) {
  switch (type) {
  case fs::file_type::directory_file:
    return "a directory";
  case fs::file_type::fifo_file:
    return "a FIFO";
  case fs::file_type::character_file:
    return "a character device";
  case fs::file_type::block_file:
    return "a block device";
  case fs::file_type::socket_file:
    return "a socket";
  default:
    return "not a regular file";
  }
}

/// The files an artifact directory may hold (docs/artifact.md).
constexpr llvm::StringLiteral kArtifactFiles[] = {
    "manifest.json",          "model.so",
    "model.cpu.so",           "weights.safetensors",
    "tokenizer.json",         "tokenizer_config.json",
    "special_tokens_map.json", "generation_config.json",
    "chat_template.jinja"};

/// A manifest larger than this is no manifest bnb-compile wrote.
constexpr uint64_t kMaxManifestBytes = uint64_t(64) << 20;

//===----------------------------------------------------------------------===//
// Removal of temporary directories from signal handlers and at exit.
//===----------------------------------------------------------------------===//

/// One registered directory. The handler reads a slot only while `armed`
/// is set; the owner clears it before changing the paths.
struct Slot {
  std::atomic<bool> used{false};
  std::atomic<bool> armed{false};
  /// The directory to remove (flat: files only).
  char remove[PATH_MAX] = {0};
  /// While an old artifact is set aside: where it is, and where it goes
  /// back if the new one is not in place yet.
  char aside[PATH_MAX] = {0};
  char destination[PATH_MAX] = {0};
};

constexpr int kSlots = 4;
Slot slots[kSlots];
std::once_flag handlersInstalled;
/// Interrupts, then crash signals (which LLVM's handler answers by printing
/// a stack trace first: that may deadlock, so the directory goes before).
constexpr int kInterruptSignals[] = {SIGINT,  SIGTERM, SIGHUP, SIGSEGV,
                                     SIGABRT, SIGBUS,  SIGILL, SIGFPE};
constexpr size_t kNumSignals = std::size(kInterruptSignals);
struct sigaction previousActions[kNumSignals];

/// Which interrupt signals the process started with ignored (nohup, a
/// parent that ignores SIGINT), recorded before main() and so before LLVM
/// installs its handlers over them: an ignored signal must not stop the
/// tool, so it does not remove its directory either.
bool startedIgnored[kNumSignals] = {};
[[maybe_unused]] const bool recordedDispositions = [] {
  for (size_t i = 0; i < std::size(kInterruptSignals); ++i) {
    struct sigaction current;
    if (::sigaction(kInterruptSignals[i], nullptr, &current) == 0)
      startedIgnored[i] = !(current.sa_flags & SA_SIGINFO) &&
                          current.sa_handler == SIG_IGN;
  }
  return true;
}();

/// Removes the files of `dir` and `dir` itself with async-signal-safe calls
/// only (no allocation).
void removeFlatDirectory(const char *dir) {
  if (!dir[0])
    return;
#if defined(__linux__)
  int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    alignas(8) char buffer[4096];
    for (;;) {
      long n = ::syscall(SYS_getdents64, fd, buffer, sizeof(buffer));
      if (n <= 0)
        break;
      for (long offset = 0; offset < n;) {
        // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
        unsigned short reclen;
        std::memcpy(&reclen, buffer + offset + 16, sizeof(reclen));
        const char *name = buffer + offset + 19;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0)
          ::unlinkat(fd, name, 0);
        offset += reclen;
      }
    }
    ::close(fd);
  }
#else
  if (DIR *d = ::opendir(dir)) {
    while (struct dirent *entry = ::readdir(d))
      if (std::strcmp(entry->d_name, ".") && std::strcmp(entry->d_name, ".."))
        ::unlinkat(::dirfd(d), entry->d_name, 0);
    ::closedir(d);
  }
#endif
  ::rmdir(dir);
}

/// Puts a set-aside artifact back and removes every registered directory.
void cleanUpSlots() {
  for (Slot &slot : slots) {
    if (!slot.armed.exchange(false))
      continue;
    struct stat st;
    if (slot.aside[0] && ::stat(slot.destination, &st) != 0)
      ::rename(slot.aside, slot.destination);
    removeFlatDirectory(slot.remove);
  }
}

void onInterrupt(int sig) {
  cleanUpSlots();
  // Then whatever handled the signal before (LLVM's removes the files
  // registered with RemoveFileOnSignal, prints a crash's stack trace, then
  // terminates): it runs once this handler returns.
  for (size_t i = 0; i < std::size(kInterruptSignals); ++i)
    if (kInterruptSignals[i] == sig)
      ::sigaction(sig, &previousActions[i], nullptr);
  ::raise(sig);
}

void installHandlers() {
  std::call_once(handlersInstalled, [] {
    // report_fatal_error without a crash exits.
    std::atexit(cleanUpSlots);
    for (size_t i = 0; i < std::size(kInterruptSignals); ++i) {
      struct sigaction action;
      std::memset(&action, 0, sizeof(action));
      action.sa_handler = onInterrupt;
      // LLVM's alternate stack: a stack overflow is a SIGSEGV too.
      action.sa_flags = SA_ONSTACK;
      sigemptyset(&action.sa_mask);
      // An ignored signal (nohup) stays ignored: the tool keeps running.
      if (startedIgnored[i])
        continue;
      ::sigaction(kInterruptSignals[i], &action, &previousActions[i]);
    }
  });
}

/// Copies `text` into a fixed buffer of a slot.
void setPath(char (&buffer)[PATH_MAX], llvm::StringRef text) {
  size_t n = std::min(text.size(), size_t(PATH_MAX - 1));
  std::memcpy(buffer, text.data(), n);
  buffer[n] = '\0';
}

int acquireSlot(llvm::StringRef dir) {
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (slots[i].used.compare_exchange_strong(expected, true)) {
      setPath(slots[i].remove, dir);
      slots[i].aside[0] = slots[i].destination[0] = '\0';
      slots[i].armed = true;
      return i;
    }
  }
  return -1;
}

void releaseSlot(int i) {
  if (i < 0)
    return;
  slots[i].armed = false;
  slots[i].used = false;
}

} // namespace

llvm::Error checkRegularInput(llvm::StringRef file) {
  fs::file_status status;
  if (fs::status(file, status) || !fs::exists(status))
    return llvm::Error::success();
  if (fs::is_regular_file(status))
    return llvm::Error::success();
  std::string what = describeType(status.type());
  if (what == "not a regular file")
    return failure("'" + file + "' is not a regular file");
  return failure("'" + file + "' is " + what + ", not a regular file");
}

std::optional<std::string> findSameFile(llvm::StringRef file,
                                        llvm::ArrayRef<std::string> inputs) {
  for (const std::string &input : inputs) {
    bool same = false;
    if (!input.empty() && !fs::equivalent(file, input, same) && same)
      return input;
  }
  return std::nullopt;
}

std::optional<std::string>
findContainedInput(llvm::StringRef dir, llvm::ArrayRef<std::string> inputs) {
  fs::UniqueID dirID;
  if (fs::getUniqueID(dir, dirID))
    return std::nullopt;
  for (const std::string &input : inputs) {
    if (input.empty())
      continue;
    llvm::SmallString<256> real;
    if (fs::real_path(input, real))
      continue;
    for (llvm::StringRef p = real; !p.empty(); p = path::parent_path(p)) {
      fs::UniqueID id;
      if (!fs::getUniqueID(p, id) && id == dirID)
        return input;
      if (p == path::parent_path(p))
        break;
    }
  }
  return std::nullopt;
}

llvm::Error checkOutputFile(llvm::StringRef output,
                            llvm::ArrayRef<std::string> inputs) {
  if (std::optional<std::string> input = findSameFile(output, inputs))
    return failure("'" + output + "' is the input file '" + *input + "'");
  fs::file_status status;
  if (fs::status(output, status) || !fs::exists(status))
    return llvm::Error::success();
  if (!fs::is_regular_file(status))
    return failure("'" + output + "' exists and is " +
                   describeType(status.type()) +
                   "; only a regular file may be replaced");
  return llvm::Error::success();
}

bool looksLikeArtifact(llvm::StringRef dir) {
  std::error_code ec;
  bool hasManifest = false;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::StringRef name = path::filename(it->path());
    if (!llvm::is_contained(kArtifactFiles, name))
      return false;
    llvm::ErrorOr<fs::basic_file_status> status = it->status();
    if (!status || status->type() != fs::file_type::regular_file)
      return false;
    hasManifest |= name == "manifest.json";
  }
  if (ec || !hasManifest)
    return false;
  llvm::SmallString<256> manifest(dir);
  path::append(manifest, "manifest.json");
  uint64_t size = 0;
  if (fs::file_size(manifest, size) || size > kMaxManifestBytes)
    return false;
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> text =
      llvm::MemoryBuffer::getFile(manifest, /*IsText=*/true);
  if (!text)
    return false;
  // Recognized, not parsed: the manifest of the artifact being replaced is
  // never trusted with anything but its own removal.
  llvm::StringRef body = (*text)->getBuffer().ltrim();
  return body.starts_with("{") && body.contains("\"bnb-artifact\"");
}

llvm::Error checkArtifactOutput(llvm::StringRef output,
                                llvm::ArrayRef<std::string> inputs,
                                bool replace) {
  fs::file_status status;
  if (fs::status(output, status) || !fs::exists(status))
    return llvm::Error::success();
  if (!replace)
    return failure("'" + output +
                   "' already exists; pass --force to replace it");
  if (std::optional<std::string> input = findSameFile(output, inputs))
    return failure("refusing to replace '" + output + "': it is the input '" +
                   *input + "'");
  if (!fs::is_directory(status))
    return failure("refusing to replace '" + output + "': it is " +
                   (fs::is_regular_file(status)
                        ? std::string("a file")
                        : std::string(describeType(status.type()))) +
                   ", not an artifact directory");
  if (std::optional<std::string> input = findContainedInput(output, inputs))
    return failure("refusing to replace '" + output +
                   "': it contains the input '" + *input + "'");
  std::error_code ec;
  bool empty = fs::directory_iterator(output, ec) == fs::directory_iterator();
  if (!(empty && !ec) && !looksLikeArtifact(output))
    return failure("refusing to replace '" + output +
                   "': it is not a bnb artifact (a directory of an "
                   "artifact's files with its manifest.json)");
  return llvm::Error::success();
}

bool isTemporaryDirectoryName(llvm::StringRef file) {
  llvm::StringRef name = path::filename(file);
  for (llvm::StringRef marker : {".tmp-", ".old-"}) {
    size_t at = name.rfind(marker);
    if (at == llvm::StringRef::npos)
      continue;
    llvm::StringRef suffix = name.drop_front(at + marker.size());
    if (suffix.size() == 6 && llvm::all_of(suffix, llvm::isAlnum))
      return true;
  }
  return false;
}

TempDirectory::TempDirectory(llvm::StringRef dir) : dir(dir) {
  installHandlers();
  slot = acquireSlot(dir);
}

llvm::Expected<std::unique_ptr<TempDirectory>>
TempDirectory::create(llvm::StringRef destination) {
  for (int attempt = 0;; ++attempt) {
    llvm::SmallString<256> candidate;
    fs::createUniquePath(llvm::Twine(destination) + ".tmp-%%%%%%", candidate,
                         /*MakeAbsolute=*/false);
    // The name must be one that bnb-run refuses.
    if (!isTemporaryDirectoryName(candidate))
      return failure("cannot create a directory next to '" + destination +
                     "': unexpected temporary name '" + candidate + "'");
    // Registered (the constructor) before it exists: a signal reaches
    // whichever thread does not block it, so only registering first leaves
    // no window in which the directory exists unregistered.
    std::unique_ptr<TempDirectory> dir(new TempDirectory(candidate));
    std::error_code ec =
        fs::create_directory(candidate, /*IgnoreExisting=*/false);
    if (!ec)
      return std::move(dir);
    // Someone else's directory of the same name: never remove it.
    if (dir->slot >= 0)
      slots[dir->slot].armed = false;
    dir->committed = true;
    if (ec != std::errc::file_exists || attempt == 100)
      return failure("cannot create a directory next to '" + destination +
                     "': " + ec.message());
  }
}

TempDirectory::~TempDirectory() {
  if (!committed) {
    if (slot >= 0)
      slots[slot].armed = false;
    fs::remove_directories(dir);
  }
  releaseSlot(slot);
}

llvm::Error TempDirectory::commit(llvm::StringRef destination) {
  fs::file_status status;
  bool exists = !fs::status(destination, status) && fs::exists(status);
  if (!exists) {
    if (std::error_code ec = fs::rename(dir, destination))
      return failure("cannot create '" + destination + "': " + ec.message());
    committed = true;
    if (slot >= 0)
      slots[slot].armed = false;
    return llvm::Error::success();
  }
  // Set the old artifact aside under a unique name: rename onto an empty
  // directory created for that purpose.
  llvm::SmallString<256> aside;
  if (std::error_code ec =
          fs::createUniqueDirectory(llvm::Twine(destination) + ".old", aside))
    return failure("cannot replace '" + destination + "': " + ec.message());
  if (slot >= 0) {
    slots[slot].armed = false;
    setPath(slots[slot].aside, aside);
    setPath(slots[slot].destination, destination);
    slots[slot].armed = true;
  }
  if (std::error_code ec = fs::rename(destination, aside)) {
    if (slot >= 0) {
      slots[slot].armed = false;
      slots[slot].aside[0] = '\0';
      slots[slot].armed = true;
    }
    fs::remove(aside);
    return failure("cannot replace '" + destination + "': " + ec.message());
  }
  if (std::error_code ec = fs::rename(dir, destination)) {
    fs::rename(aside, destination);
    if (slot >= 0) {
      slots[slot].armed = false;
      slots[slot].aside[0] = '\0';
      slots[slot].armed = true;
    }
    return failure("cannot replace '" + destination + "': " + ec.message());
  }
  // The new artifact is in place; from here on only the old one is left to
  // remove, also if a signal arrives while it is being removed.
  committed = true;
  if (slot >= 0) {
    slots[slot].armed = false;
    setPath(slots[slot].remove, aside);
    slots[slot].aside[0] = '\0';
    slots[slot].armed = true;
  }
  std::error_code ec = fs::remove_directories(aside);
  if (slot >= 0)
    slots[slot].armed = false;
  if (ec)
    return failure("replaced '" + destination + "' but cannot remove the old "
                   "artifact '" + aside + "': " + ec.message());
  return llvm::Error::success();
}

} // namespace bnb
