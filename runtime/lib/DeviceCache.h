//===- DeviceCache.h - freed device blocks kept for reuse -------*- C++ -*-===//
//
// A size-bucketed cache of device blocks. cuMemAlloc is slow and cuMemFree
// waits for the device, so a model that allocates its intermediates on
// every call pays both per block; the cache keeps freed blocks and hands
// them out again for requests of the same bucket, without a driver call.
//
// When a block may be handed out again: a freed block can still be in use
// by work queued before its free. A block freed with stream S is reused at
// once only by a request on S itself, since S runs its work in order (the
// freeing code ordered its last use on S before the free, the stream-ordered
// contract of gpu.dealloc and cudaFreeAsync). Requests on any other stream,
// or without one, get it only once the host has waited for that work: after
// a synchronization of S or of the whole device. A block freed without a
// stream (bnbrt_free, a synchronous gpu.dealloc) waits for a device
// synchronization; so does one whose stream is destroyed before it was
// synchronized, since a new stream may get the same handle.
//
// The cache is plain bookkeeping: DeviceMemory.cpp does the driver calls.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_DEVICECACHE_H
#define BNB_RUNTIME_LIB_DEVICECACHE_H

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace bnb::rt {

/// The process-wide cache of free device blocks.
class DeviceCache {
public:
  /// Returns the singleton.
  static DeviceCache &get();

  /// The size the driver is asked for when `bytes` are requested with the
  /// cache on: powers of two from 512 bytes below 1 MiB, then multiples of
  /// 2 MiB (the driver's own granularity for large blocks). Every request
  /// of a bucket fits every block of it.
  static uint64_t bucketBytes(uint64_t bytes);

  /// Whether freed blocks are cached.
  bool enabled() const { return enabled_.load(); }

  /// Turns caching on or off; returns the previous setting. Turning it off
  /// keeps the cached blocks until they are drained.
  bool setEnabled(bool enabled) { return enabled_.exchange(enabled); }

  /// Sets the default: on unless BNB_CUDA_CACHING=0.
  void configureFromEnvironment();

  /// Takes a block of bucket `bucket` that a request on `stream` (nullptr:
  /// none) may use; nullptr when there is none.
  void *take(uint64_t bucket, void *stream);

  /// Keeps `ptr`, a block of bucket `bucket` freed on `stream` (nullptr:
  /// none).
  void put(void *ptr, uint64_t bucket, void *stream);

  /// The host waited for the work queued on `stream`.
  void streamSynchronized(void *stream);

  /// The host waited for all work on the device.
  void deviceSynchronized();

  /// `stream` was destroyed; its blocks not yet known idle wait for a
  /// device synchronization.
  void streamDestroyed(void *stream);

  /// Removes every cached block and returns them, for the caller to free.
  std::vector<void *> drain();

  /// Bytes held by cached blocks (their bucket sizes).
  uint64_t bytes();

  /// Number of cached blocks.
  uint64_t blocks();

private:
  DeviceCache() { configureFromEnvironment(); }

  /// A cached block.
  struct Entry {
    void *ptr;
    void *stream; ///< stream of its free; nullptr: none or destroyed
    bool idle;    ///< the host has waited for the work that used it
  };

  std::atomic<bool> enabled_{true};
  std::mutex mutex_;
  std::map<uint64_t, std::vector<Entry>> buckets_;
  uint64_t bytes_ = 0;
  uint64_t blocks_ = 0;
};

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_DEVICECACHE_H
