//===- MemoryTracker.cpp - memory accounting by category ------------------===//

#include "MemoryTracker.h"
#include "ErrorState.h"

#include <algorithm>

namespace bnb::rt {
namespace {
const char *poolName(int pool) {
  return pool == BNBRT_POOL_DEVICE ? "device" : "host";
}

void charge(bnbrt_memory_stats &c, uint64_t bytes) {
  c.current_bytes += bytes;
  c.current_blocks += 1;
  c.total_allocations += 1;
  c.peak_bytes = std::max(c.peak_bytes, c.current_bytes);
}

void discharge(bnbrt_memory_stats &c, uint64_t bytes) {
  c.current_bytes -= bytes;
  c.current_blocks -= 1;
  c.total_frees += 1;
}
} // namespace

MemoryTracker &MemoryTracker::get() {
  // Never destroyed: the exit-time leak report and late frees use it.
  static MemoryTracker *tracker = new MemoryTracker;
  return *tracker;
}

void MemoryTracker::onAlloc(int pool, const void *ptr, uint64_t bytes,
                            int category, uint64_t bucket) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, inserted] =
      live_[pool].try_emplace(ptr, Block{bytes, category, bucket});
  if (!inserted) {
    // The address was released behind the runtime's back and handed out
    // again; the stale entry must not be counted twice.
    discharge(counters_[pool][it->second.category], it->second.bytes);
    discharge(counters_[pool][kTotal], it->second.bytes);
    it->second = Block{bytes, category, bucket};
  }
  charge(counters_[pool][category], bytes);
  charge(counters_[pool][kTotal], bytes);
}

bool MemoryTracker::onFree(int pool, const void *ptr, Block *block) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_[pool].find(ptr);
  if (it == live_[pool].end())
    return false;
  Block b = it->second;
  live_[pool].erase(it);
  discharge(counters_[pool][b.category], b.bytes);
  discharge(counters_[pool][kTotal], b.bytes);
  if (block)
    *block = b;
  return true;
}

bnbrt_memory_stats MemoryTracker::stats(int pool, int category) {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_[pool][category < 0 ? kTotal : category];
}

void MemoryTracker::resetPeaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto &pool : counters_)
    for (bnbrt_memory_stats &c : pool)
      c.peak_bytes = c.current_bytes;
}

uint64_t MemoryTracker::outstanding() {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_[0].size() + live_[1].size();
}

std::string MemoryTracker::report() {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t blocks = 0, bytes = 0;
  for (int pool = 0; pool < 2; ++pool) {
    blocks += counters_[pool][kTotal].current_blocks;
    bytes += counters_[pool][kTotal].current_bytes;
  }
  if (blocks == 0)
    return "bnb runtime: no outstanding allocations\n";
  std::string out = format(
      "bnb runtime: %llu outstanding allocation(s), %llu bytes\n",
      static_cast<unsigned long long>(blocks),
      static_cast<unsigned long long>(bytes));
  for (int pool = 0; pool < 2; ++pool)
    for (int cat = 0; cat < BNBRT_NUM_CATEGORIES; ++cat) {
      const bnbrt_memory_stats &c = counters_[pool][cat];
      if (c.current_blocks == 0)
        continue;
      out += format("  %s %s: %llu block(s), %llu bytes\n", poolName(pool),
                    bnbrt_category_name(cat),
                    static_cast<unsigned long long>(c.current_blocks),
                    static_cast<unsigned long long>(c.current_bytes));
    }
  return out;
}

void MemoryTracker::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto &pool : live_)
    pool.clear();
  for (auto &pool : counters_)
    for (bnbrt_memory_stats &c : pool)
      c = bnbrt_memory_stats{};
  defaultCategory_.store(BNBRT_CATEGORY_ACTIVATIONS);
}

} // namespace bnb::rt
