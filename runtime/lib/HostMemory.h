//===- HostMemory.h - accounted host allocations ----------------*- C++ -*-===//
//
// Host memory of compiled CPU models, charged to categories like device
// memory so bnb-run reports both targets the same way.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_HOSTMEMORY_H
#define BNB_RUNTIME_LIB_HOSTMEMORY_H

#include <cstdint>

namespace bnb::rt {

/// Allocates `bytes` (at least one byte is reserved so the result is unique)
/// aligned to `alignment` (0: malloc's), charged to `category`. `site` names
/// the caller in the error recorded on failure.
void *hostAlloc(uint64_t bytes, uint64_t alignment, int category,
                const char *site);

/// Frees memory from hostAlloc; nullptr is ignored. Memory the runtime does
/// not track (allocated before a reset) is still released with free().
void hostFree(void *ptr);

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_HOSTMEMORY_H
