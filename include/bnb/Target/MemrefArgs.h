//===- MemrefArgs.h - memref descriptors for compiled entry points -*- C++ -*-===//
//
// Compiled entry points take a pointer to a ranked memref descriptor per
// tensor argument ({allocated, aligned, offset, sizes[R], strides[R]}, the
// MLIR C interface), packed in an array of pointers.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TARGET_MEMREFARGS_H
#define BNB_TARGET_MEMREFARGS_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace bnb {

/// Owns the descriptors of one call and the array of pointers to them.
class MemrefArgs {
public:
  /// Appends a contiguous row-major tensor at `data` with `shape`.
  void add(void *data, llvm::ArrayRef<int64_t> shape) {
    std::vector<int64_t> desc;
    desc.reserve(3 + 2 * shape.size());
    desc.push_back(reinterpret_cast<intptr_t>(data));
    desc.push_back(reinterpret_cast<intptr_t>(data));
    desc.push_back(0);
    desc.insert(desc.end(), shape.begin(), shape.end());
    std::vector<int64_t> strides(shape.size(), 1);
    for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
      strides[i] = strides[i + 1] * shape[i + 1];
    desc.insert(desc.end(), strides.begin(), strides.end());
    descriptors.push_back(std::move(desc));
  }

  /// The packed argument array; valid until the next add().
  void **pointers() {
    ptrs.clear();
    for (std::vector<int64_t> &desc : descriptors)
      ptrs.push_back(desc.data());
    return ptrs.data();
  }

private:
  std::vector<std::vector<int64_t>> descriptors;
  std::vector<void *> ptrs;
};

} // namespace bnb

#endif // BNB_TARGET_MEMREFARGS_H
