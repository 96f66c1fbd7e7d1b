//===- DeviceMemory.cpp - accounted device allocations --------------------===//

#include "DeviceMemory.h"
#include "Driver.h"
#include "ErrorState.h"
#include "MemoryTracker.h"

namespace bnb::rt {

void *deviceAlloc(uint64_t bytes, bool managed, int category) {
  if (bytes == 0 || hasError())
    return nullptr;
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return nullptr;
  bnbrt_cu_deviceptr ptr = 0;
  bnbrt_cu_result r = managed ? cu->cuMemAllocManaged(
                                    &ptr, bytes, BNBRT_CU_MEM_ATTACH_GLOBAL)
                              : cu->cuMemAlloc_v2(&ptr, bytes);
  if (r != 0) {
    MemoryTracker &tracker = MemoryTracker::get();
    recordError(
        Driver::get().failure(
            format("%s(%llu bytes)",
                   managed ? "cuMemAllocManaged" : "cuMemAlloc_v2",
                   static_cast<unsigned long long>(bytes)),
            r) +
        format(" [category %s; the runtime holds %llu bytes of device "
               "memory]",
               bnbrt_category_name(category),
               static_cast<unsigned long long>(
                   tracker.currentBytes(BNBRT_POOL_DEVICE))));
    return nullptr;
  }
  void *p = reinterpret_cast<void *>(static_cast<uintptr_t>(ptr));
  MemoryTracker::get().onAlloc(BNBRT_POOL_DEVICE, p, bytes, category);
  return p;
}

void deviceFree(void *ptr) {
  if (!ptr)
    return;
  Block block;
  if (!MemoryTracker::get().onFree(BNBRT_POOL_DEVICE, ptr, &block)) {
    recordError(format("device free of %p, which is not a live allocation "
                       "of the runtime (double free?)",
                       ptr));
    return;
  }
  // A live block implies a loaded driver; failing to reach it again would
  // leave nothing to free with.
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return;
  bnbrt_cu_deviceptr dptr = reinterpret_cast<uintptr_t>(ptr);
  if (bnbrt_cu_result r = cu->cuMemFree_v2(dptr))
    recordError(Driver::get().failure(
        format("cuMemFree_v2(%p, %llu bytes)", ptr,
               static_cast<unsigned long long>(block.bytes)),
        r));
}

} // namespace bnb::rt
