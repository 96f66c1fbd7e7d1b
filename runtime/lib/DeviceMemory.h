//===- DeviceMemory.h - accounted device allocations ------------*- C++ -*-===//
//
// The one place device memory is allocated and freed, shared by the mgpu*
// ABI and the C API so that every block is accounted the same way.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_DEVICEMEMORY_H
#define BNB_RUNTIME_LIB_DEVICEMEMORY_H

#include <cstdint>

namespace bnb::rt {

/// Allocates `bytes` of device (or managed) memory charged to `category`.
/// Returns nullptr for zero bytes, while an error is recorded, or on failure
/// (recorded).
void *deviceAlloc(uint64_t bytes, bool managed, int category);

/// Frees a block from deviceAlloc; nullptr is ignored, an unknown pointer is
/// reported. Runs even while an error is recorded.
void deviceFree(void *ptr);

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_DEVICEMEMORY_H
