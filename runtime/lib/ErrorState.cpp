//===- ErrorState.cpp - sticky first-error state --------------------------===//

#include "ErrorState.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace bnb::rt {
namespace {
struct State {
  std::atomic<bool> set{false};
  std::mutex mutex;
  std::string message;
  // BNB_RT_VERBOSE=1 echoes the first error to stderr as it happens, for
  // compiled code run without a host tool that reports it.
  bool verbose = [] {
    const char *v = std::getenv("BNB_RT_VERBOSE");
    return v && *v && *v != '0';
  }();
};

State &state() {
  // Never destroyed: compiled code may still call in during process exit.
  static State *s = new State;
  return *s;
}
} // namespace

bool hasError() { return state().set.load(std::memory_order_acquire); }

void recordError(std::string message) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.set.load(std::memory_order_relaxed))
    return;
  s.message = std::move(message);
  s.set.store(true, std::memory_order_release);
  if (s.verbose)
    std::fprintf(stderr, "bnb runtime: error: %s\n", s.message.c_str());
}

const char *lastError() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.set.load(std::memory_order_relaxed) ? s.message.c_str() : nullptr;
}

void clearError() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.set.store(false, std::memory_order_release);
  s.message.clear();
}

std::string format(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? size_t(n) : 0, '\0');
  if (n > 0)
    std::vsnprintf(out.data(), size_t(n) + 1, fmt, args);
  va_end(args);
  return out;
}

} // namespace bnb::rt
