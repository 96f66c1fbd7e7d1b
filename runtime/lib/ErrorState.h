//===- ErrorState.h - sticky first-error state ------------------*- C++ -*-===//
//
// The mgpu* functions return void or a handle, so compiled code cannot check
// them. The runtime keeps the first failure instead; while it is set, work
// becomes a no-op and the host tool reports the message afterwards.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_ERRORSTATE_H
#define BNB_RUNTIME_LIB_ERRORSTATE_H

#include <string>

namespace bnb::rt {

/// Returns true while an error is recorded. Cheap enough for every call.
bool hasError();

/// Records `message` as the error unless one is already recorded.
void recordError(std::string message);

/// Returns the recorded message, or nullptr. Valid until clearError().
const char *lastError();

/// Forgets the recorded error.
void clearError();

/// printf-style formatting into a std::string.
std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_ERRORSTATE_H
