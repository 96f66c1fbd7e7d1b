//===- DeviceMemory.h - accounted device allocations ------------*- C++ -*-===//
//
// The one place device memory is allocated and freed, shared by the mgpu*
// ABI and the C API so that every block is accounted the same way. Blocks
// go through the caching allocator (DeviceCache.h) unless it is off.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_DEVICEMEMORY_H
#define BNB_RUNTIME_LIB_DEVICEMEMORY_H

#include <cstddef>
#include <cstdint>

namespace bnb::rt {

/// Allocates `bytes` of device (or managed) memory charged to `category`,
/// for work on `stream` (nullptr: none). A cached block of the same bucket
/// is reused when the stream rules of DeviceCache allow it; an allocation
/// the driver refuses for lack of memory is retried once after the cache is
/// released. Returns nullptr for zero bytes, while an error is recorded, or
/// on failure (recorded).
void *deviceAlloc(uint64_t bytes, bool managed, int category,
                  void *stream = nullptr);

/// Frees a block from deviceAlloc whose last use was queued on `stream`
/// (nullptr: none or unknown): into the cache, or to the driver when it is
/// off. nullptr is ignored, an unknown pointer is reported. Runs even while
/// an error is recorded.
void deviceFree(void *ptr, void *stream = nullptr);

/// Frees every cached block through the driver (when one is loaded) and
/// returns how many there were.
size_t releaseDeviceCache();

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_DEVICEMEMORY_H
