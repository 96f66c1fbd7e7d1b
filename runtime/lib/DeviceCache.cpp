//===- DeviceCache.cpp - freed device blocks kept for reuse ---------------===//

#include "DeviceCache.h"

#include <cstdlib>
#include <cstring>

namespace bnb::rt {

DeviceCache &DeviceCache::get() {
  // Never destroyed: model destructors free into it at exit.
  static DeviceCache *cache = new DeviceCache;
  return *cache;
}

uint64_t DeviceCache::bucketBytes(uint64_t bytes) {
  constexpr uint64_t kMin = 512, kLarge = uint64_t(1) << 20,
                     kLargeStep = uint64_t(2) << 20;
  if (bytes > UINT64_MAX - kLargeStep)
    return bytes; // no bucket can hold it; the driver refuses it anyway
  if (bytes >= kLarge)
    return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
  uint64_t bucket = kMin;
  while (bucket < bytes)
    bucket *= 2;
  return bucket;
}

void DeviceCache::configureFromEnvironment() {
  const char *value = std::getenv("BNB_CUDA_CACHING");
  enabled_.store(!(value && std::strcmp(value, "0") == 0));
}

void *DeviceCache::take(uint64_t bucket, void *stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = buckets_.find(bucket);
  if (it == buckets_.end())
    return nullptr;
  std::vector<Entry> &entries = it->second;
  // The most recently freed usable block first: its memory is likeliest to
  // be in the caches.
  for (size_t i = entries.size(); i-- > 0;) {
    Entry &e = entries[i];
    if (!e.idle && !(stream && e.stream == stream))
      continue;
    void *ptr = e.ptr;
    entries.erase(entries.begin() + i);
    bytes_ -= bucket;
    --blocks_;
    return ptr;
  }
  return nullptr;
}

void DeviceCache::put(void *ptr, uint64_t bucket, void *stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  buckets_[bucket].push_back(Entry{ptr, stream, /*idle=*/false});
  bytes_ += bucket;
  ++blocks_;
}

void DeviceCache::streamSynchronized(void *stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto &[bucket, entries] : buckets_)
    for (Entry &e : entries)
      if (stream && e.stream == stream)
        e.idle = true;
}

void DeviceCache::deviceSynchronized() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto &[bucket, entries] : buckets_)
    for (Entry &e : entries)
      e.idle = true;
}

void DeviceCache::streamDestroyed(void *stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto &[bucket, entries] : buckets_)
    for (Entry &e : entries)
      if (stream && e.stream == stream)
        e.stream = nullptr;
}

std::vector<void *> DeviceCache::drain() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<void *> out;
  out.reserve(blocks_);
  for (auto &[bucket, entries] : buckets_)
    for (Entry &e : entries)
      out.push_back(e.ptr);
  buckets_.clear();
  bytes_ = 0;
  blocks_ = 0;
  return out;
}

uint64_t DeviceCache::bytes() {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

uint64_t DeviceCache::blocks() {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_;
}

} // namespace bnb::rt
