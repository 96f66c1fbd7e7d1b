//===- MemoryTracker.h - memory accounting by category ----------*- C++ -*-===//
//
// Every allocation the runtime hands out is recorded with its size, pool
// (device or host) and category, so frees can be charged back, peaks kept per
// category and in total, and whatever is still live listed as a leak.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_MEMORYTRACKER_H
#define BNB_RUNTIME_LIB_MEMORYTRACKER_H

#include "bnb_runtime.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bnb::rt {

/// Size and category of one live allocation.
struct Block {
  uint64_t bytes = 0; ///< as requested; what the accounting counts
  int category = BNBRT_CATEGORY_ACTIVATIONS;
  /// The caching allocator's bucket the block came from (0: an exact
  /// allocation, freed to the driver).
  uint64_t bucket = 0;
};

/// Returns true for a real category (not BNBRT_CATEGORY_TOTAL).
inline bool isValidCategory(int category) {
  return category >= 0 && category < BNBRT_NUM_CATEGORIES;
}

/// Returns true for BNBRT_POOL_DEVICE or BNBRT_POOL_HOST.
inline bool isValidPool(int pool) {
  return pool == BNBRT_POOL_DEVICE || pool == BNBRT_POOL_HOST;
}

/// The process-wide allocation ledger.
class MemoryTracker {
public:
  /// Returns the singleton.
  static MemoryTracker &get();

  /// The category allocations without an explicit one are charged to.
  int defaultCategory() const { return defaultCategory_.load(); }
  /// Sets it; returns the previous one.
  int setDefaultCategory(int category) {
    return defaultCategory_.exchange(category);
  }

  /// Records a new live allocation (`bucket`: see Block).
  void onAlloc(int pool, const void *ptr, uint64_t bytes, int category,
               uint64_t bucket = 0);

  /// Removes `ptr` from the live set of `pool`, charging its size back.
  /// Returns false (and changes nothing) when `ptr` is not live there.
  bool onFree(int pool, const void *ptr, Block *block = nullptr);

  /// Returns the counters of `pool` and `category` (or the total).
  bnbrt_memory_stats stats(int pool, int category);

  /// Bytes live in `pool` over all categories.
  uint64_t currentBytes(int pool) { return stats(pool, -1).current_bytes; }

  /// Lowers every peak to the current value.
  void resetPeaks();

  /// Number of live allocations in both pools.
  uint64_t outstanding();

  /// The leak report text (one line per pool/category holding memory).
  std::string report();

  /// Forgets all allocations and counters (nothing is freed).
  void reset();

private:
  MemoryTracker() = default;
  static constexpr int kTotal = BNBRT_NUM_CATEGORIES;

  std::atomic<int> defaultCategory_{BNBRT_CATEGORY_ACTIVATIONS};
  std::mutex mutex_;
  std::unordered_map<const void *, Block> live_[2];
  bnbrt_memory_stats counters_[2][BNBRT_NUM_CATEGORIES + 1] = {};
};

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_MEMORYTRACKER_H
