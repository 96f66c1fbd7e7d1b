//===- DeviceMemory.cpp - accounted device allocations --------------------===//

#include "DeviceMemory.h"
#include "DeviceCache.h"
#include "Driver.h"
#include "ErrorState.h"
#include "MemoryTracker.h"

namespace bnb::rt {
namespace {

/// Frees `ptr` through the driver, recording a failure.
void driverFree(const bnbrt_driver_table &cu, void *ptr, uint64_t bytes) {
  bnbrt_cu_deviceptr dptr = reinterpret_cast<uintptr_t>(ptr);
  if (bnbrt_cu_result r = cu.cuMemFree_v2(dptr))
    recordError(Driver::get().failure(
        format("cuMemFree_v2(%p, %llu bytes)", ptr,
               static_cast<unsigned long long>(bytes)),
        r));
}

} // namespace

void *deviceAlloc(uint64_t bytes, bool managed, int category, void *stream) {
  if (bytes == 0 || hasError())
    return nullptr;
  MemoryTracker &tracker = MemoryTracker::get();
  DeviceCache &cache = DeviceCache::get();
  // Managed blocks are rare (host_shared) and not worth a second cache.
  uint64_t bucket =
      !managed && cache.enabled() ? DeviceCache::bucketBytes(bytes) : 0;
  if (bucket) {
    if (void *p = cache.take(bucket, stream)) {
      tracker.onAlloc(BNBRT_POOL_DEVICE, p, bytes, category, bucket);
      return p;
    }
  }
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return nullptr;
  uint64_t size = bucket ? bucket : bytes;
  auto allocate = [&](bnbrt_cu_deviceptr *ptr) {
    return managed ? cu->cuMemAllocManaged(ptr, size,
                                           BNBRT_CU_MEM_ATTACH_GLOBAL)
                   : cu->cuMemAlloc_v2(ptr, size);
  };
  bnbrt_cu_deviceptr ptr = 0;
  bnbrt_cu_result r = allocate(&ptr);
  // Cached blocks may be what fills the device: give them back and retry.
  if (r == BNBRT_CUDA_ERROR_OUT_OF_MEMORY && releaseDeviceCache() > 0 &&
      !hasError())
    r = allocate(&ptr);
  if (r != 0) {
    recordError(
        Driver::get().failure(
            format("%s(%llu bytes)",
                   managed ? "cuMemAllocManaged" : "cuMemAlloc_v2",
                   static_cast<unsigned long long>(size)),
            r) +
        format(" [category %s; the runtime holds %llu bytes of device "
               "memory]",
               bnbrt_category_name(category),
               static_cast<unsigned long long>(
                   tracker.currentBytes(BNBRT_POOL_DEVICE) + cache.bytes())));
    return nullptr;
  }
  void *p = reinterpret_cast<void *>(static_cast<uintptr_t>(ptr));
  tracker.onAlloc(BNBRT_POOL_DEVICE, p, bytes, category, bucket);
  return p;
}

void deviceFree(void *ptr, void *stream) {
  if (!ptr)
    return;
  Block block;
  if (!MemoryTracker::get().onFree(BNBRT_POOL_DEVICE, ptr, &block)) {
    recordError(format("device free of %p, which is not a live allocation "
                       "of the runtime (double free?)",
                       ptr));
    return;
  }
  DeviceCache &cache = DeviceCache::get();
  if (block.bucket && cache.enabled()) {
    cache.put(ptr, block.bucket, stream);
    return;
  }
  // A live block implies a loaded driver; failing to reach it again would
  // leave nothing to free with.
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return;
  driverFree(*cu, ptr, block.bytes);
}

size_t releaseDeviceCache() {
  std::vector<void *> blocks = DeviceCache::get().drain();
  if (blocks.empty())
    return 0;
  // Without a loaded driver the blocks went with it.
  if (const bnbrt_driver_table *cu = Driver::get().ifLoaded())
    for (void *ptr : blocks)
      driverFree(*cu, ptr, 0);
  return blocks.size();
}

} // namespace bnb::rt
