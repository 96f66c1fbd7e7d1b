//===- HostAbi.cpp - allocation and copy functions of CPU models ----------===//
//
// What finalize-memref-to-llvm{use-generic-functions=true} and memref.copy
// lower to in MLIR 22, so CPU model libraries need no MLIR runtime library.
//
//===----------------------------------------------------------------------===//

#include "bnb_runtime_abi.h"

#include "ErrorState.h"
#include "HostMemory.h"
#include "MemRefDescriptor.h"
#include "MemoryTracker.h"

#include <cstring>
#include <vector>

using namespace bnb::rt;

namespace {

/// Copies every element of `src` to `dst` (same shape). The innermost
/// dimension is copied as one block when both sides are unit-stride there,
/// and the whole memref as one block when both are dense.
void copyStrided(int64_t elementSize, const MemRefView &src,
                 const MemRefView &dst) {
  int64_t rank = src.rank;
  char *from = src.data(elementSize);
  char *to = dst.data(elementSize);
  if (rank == 0) {
    std::memcpy(to, from, size_t(elementSize));
    return;
  }
  int64_t count = src.numElements();
  if (count == 0)
    return;
  if (src.isRowMajorDense() && dst.isRowMajorDense()) {
    std::memcpy(to, from, size_t(count * elementSize));
    return;
  }
  int64_t inner = src.sizes[rank - 1];
  int64_t srcInner = src.strides[rank - 1];
  int64_t dstInner = dst.strides[rank - 1];
  bool innerDense = (srcInner == 1 && dstInner == 1) || inner == 1;
  std::vector<int64_t> index(size_t(rank), 0);
  for (int64_t done = 0; done < count; done += inner) {
    int64_t srcOffset = 0, dstOffset = 0;
    for (int64_t d = 0; d + 1 < rank; ++d) {
      srcOffset += index[d] * src.strides[d];
      dstOffset += index[d] * dst.strides[d];
    }
    char *s = from + srcOffset * elementSize;
    char *t = to + dstOffset * elementSize;
    if (innerDense) {
      std::memcpy(t, s, size_t(inner * elementSize));
    } else {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(t + i * dstInner * elementSize,
                    s + i * srcInner * elementSize, size_t(elementSize));
    }
    // Advance the outer index like an odometer.
    for (int64_t d = rank - 2; d >= 0; --d) {
      if (++index[d] < src.sizes[d])
        break;
      index[d] = 0;
    }
  }
}

} // namespace

extern "C" {

void *_mlir_memref_to_llvm_alloc(size_t size) {
  return hostAlloc(size, 0, MemoryTracker::get().defaultCategory(),
                   "_mlir_memref_to_llvm_alloc");
}

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size) {
  return hostAlloc(size, alignment, MemoryTracker::get().defaultCategory(),
                   "_mlir_memref_to_llvm_aligned_alloc");
}

void _mlir_memref_to_llvm_free(void *ptr) { hostFree(ptr); }

void *bnbrtHostAlloc(uint64_t bytes, uint64_t alignment, int32_t category) {
  if (!isValidCategory(category)) {
    recordError(format("bnbrtHostAlloc: invalid memory category %d", category));
    return nullptr;
  }
  return hostAlloc(bytes, alignment, category, "bnbrtHostAlloc");
}

void memrefCopy(int64_t elementSize, bnbrt_unranked_memref *src,
                bnbrt_unranked_memref *dst) {
  if (!src || !dst || src->rank != dst->rank || src->rank < 0) {
    recordError("memrefCopy: source and destination ranks differ");
    return;
  }
  MemRefView from = MemRefView::of(src->descriptor, src->rank);
  MemRefView to = MemRefView::of(dst->descriptor, dst->rank);
  for (int64_t d = 0; d < from.rank; ++d) {
    if (from.sizes[d] != to.sizes[d]) {
      recordError(format("memrefCopy: dimension %lld differs (%lld vs %lld)",
                         static_cast<long long>(d),
                         static_cast<long long>(from.sizes[d]),
                         static_cast<long long>(to.sizes[d])));
      return;
    }
  }
  if (elementSize > 0)
    copyStrided(elementSize, from, to);
}

} // extern "C"
