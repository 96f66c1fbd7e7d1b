//===- KernelRegistry.h - kernel names, lookups and timings -----*- C++ -*-===//
//
// Compiled code looks a kernel up (mgpuModuleGetFunction) before every
// launch. The registry caches those lookups, remembers each function's name
// for timings and error messages, and, while profiling, brackets launches
// with events whose elapsed times are collected lazily.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_KERNELREGISTRY_H
#define BNB_RUNTIME_LIB_KERNELREGISTRY_H

#include "bnb_runtime_driver.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bnb::rt {

/// What is known about one kernel name.
struct KernelRecord {
  std::string name;
  uint64_t launches = 0;
  double totalMs = 0;
  bool listed = false; // in launchOrder_
};

/// An in-flight timed launch.
struct TimedLaunch {
  KernelRecord *record = nullptr;
  bnbrt_cu_event start = nullptr;
  bnbrt_cu_event end = nullptr;
};

/// The process-wide kernel registry.
class KernelRegistry {
public:
  /// Returns the singleton.
  static KernelRegistry &get();

  /// Returns the cached function for (`module`, `name`), or nullptr.
  bnbrt_cu_function lookup(bnbrt_cu_module module, const char *name);

  /// Caches a successful lookup and names the function.
  void remember(bnbrt_cu_module module, const char *name,
                bnbrt_cu_function function);

  /// Drops the cached lookups of an unloaded module.
  void forgetModule(bnbrt_cu_module module);

  /// Returns the record of `function`, or nullptr for an unknown function.
  KernelRecord *recordOf(bnbrt_cu_function function);

  /// Returns true when `function` may use `smem` bytes of dynamic shared
  /// memory without raising its limit first; marks it raised otherwise.
  bool sharedMemoryRaised(bnbrt_cu_function function, int smem);
  /// Records that the limit of `function` is now `smem`.
  void setSharedMemoryRaised(bnbrt_cu_function function, int smem);

  /// Remembers the last launched kernel, for asynchronous error messages.
  void setLastLaunched(KernelRecord *record) { lastLaunched_.store(record); }
  /// Returns " (last kernel launched: NAME)" or "".
  std::string lastLaunchedNote();

  /// Enables or disables timing.
  void setProfiling(bool enabled) { profiling_.store(enabled); }
  /// Returns true while timing.
  bool profiling() const { return profiling_.load(std::memory_order_relaxed); }

  /// Records a start event on `stream` before a timed launch. Returns false
  /// (error recorded) when the event could not be recorded.
  bool beginTimed(const bnbrt_driver_table &cu, KernelRecord *record,
                  bnbrt_cu_stream stream, TimedLaunch *launch);
  /// Records the end event after the launch; `launched` says whether the
  /// launch was accepted.
  void endTimed(const bnbrt_driver_table &cu, bnbrt_cu_stream stream,
                TimedLaunch &launch, bool launched);

  /// Waits for pending timing events and adds their times. `cu` may be null
  /// when no driver is loaded.
  void collect(const bnbrt_driver_table *cu);

  /// Records with at least one timed launch, in order of first launch.
  std::vector<KernelRecord *> launched();

  /// Clears launch counts and times.
  void resetStats();

  /// Forgets everything tied to the driver (cached functions, events) and
  /// every record; `cu` (may be null) destroys the events.
  void reset(const bnbrt_driver_table *cu);

private:
  KernelRegistry() = default;
  KernelRecord *recordFor(const std::string &name);
  bnbrt_cu_event takeEvent(const bnbrt_driver_table &cu);
  void collectLocked(const bnbrt_driver_table &cu);

  struct Key {
    bnbrt_cu_module module;
    const char *name;
    bool operator==(const Key &o) const {
      return module == o.module && name == o.name;
    }
  };
  struct KeyHash {
    size_t operator()(const Key &k) const {
      return std::hash<const void *>()(k.module) * 31 +
             std::hash<const void *>()(k.name);
    }
  };
  struct Cached {
    bnbrt_cu_function function;
    std::string name;
  };

  /// Timed launches held before events are collected without a query.
  static constexpr size_t kMaxPending = 4096;

  std::mutex mutex_;
  std::unordered_map<Key, Cached, KeyHash> lookups_;
  std::unordered_map<bnbrt_cu_function, KernelRecord *> byFunction_;
  std::unordered_map<bnbrt_cu_function, int> smemRaised_;
  std::unordered_map<std::string, KernelRecord *> byName_;
  std::deque<KernelRecord> records_;
  std::vector<KernelRecord *> launchOrder_;
  std::vector<TimedLaunch> pending_;
  std::vector<bnbrt_cu_event> freeEvents_;
  std::atomic<KernelRecord *> lastLaunched_{nullptr};
  std::atomic<bool> profiling_{false};
};

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_KERNELREGISTRY_H
