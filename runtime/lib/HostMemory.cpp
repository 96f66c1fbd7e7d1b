//===- HostMemory.cpp - accounted host allocations ------------------------===//

#include "HostMemory.h"
#include "ErrorState.h"
#include "MemoryTracker.h"

#include <cstddef>
#include <cstdlib>

namespace bnb::rt {

void *hostAlloc(uint64_t bytes, uint64_t alignment, int category,
                const char *site) {
  size_t request = bytes ? size_t(bytes) : 1;
  void *ptr = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    ptr = std::malloc(request);
  } else {
    // posix_memalign wants a power of two that is a multiple of a pointer.
    size_t align = sizeof(void *);
    while (align < alignment)
      align <<= 1;
    if (posix_memalign(&ptr, align, request) != 0)
      ptr = nullptr;
  }
  if (!ptr) {
    recordError(format("%s(%llu bytes) failed: out of host memory", site,
                       static_cast<unsigned long long>(bytes)));
    return nullptr;
  }
  MemoryTracker::get().onAlloc(BNBRT_POOL_HOST, ptr, bytes, category);
  return ptr;
}

void hostFree(void *ptr) {
  if (!ptr)
    return;
  MemoryTracker::get().onFree(BNBRT_POOL_HOST, ptr);
  std::free(ptr);
}

} // namespace bnb::rt
