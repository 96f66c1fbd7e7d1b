//===- MemRefDescriptor.h - ranked memref descriptors -----------*- C++ -*-===//
//
// Reads the descriptor MLIR's LLVM lowering passes by pointer:
// {T *allocated; T *aligned; int64_t offset; int64_t sizes[rank];
//  int64_t strides[rank];} — all fields 8 bytes, so no padding.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_MEMREFDESCRIPTOR_H
#define BNB_RUNTIME_LIB_MEMREFDESCRIPTOR_H

#include <cstdint>

namespace bnb::rt {

/// A view of a ranked memref descriptor of known rank.
struct MemRefView {
  int64_t rank = 0;
  char *aligned = nullptr;
  int64_t offset = 0;
  const int64_t *sizes = nullptr;
  const int64_t *strides = nullptr;

  /// Interprets `descriptor` as a descriptor of `rank` dimensions.
  static MemRefView of(void *descriptor, int64_t rank) {
    struct Header {
      char *allocated;
      char *aligned;
      int64_t offset;
    };
    static_assert(sizeof(Header) == 24, "descriptor header is three words");
    auto *header = static_cast<Header *>(descriptor);
    auto *shape = reinterpret_cast<const int64_t *>(header + 1);
    return MemRefView{rank, header->aligned, header->offset, shape,
                      shape + rank};
  }

  /// Address of the first element.
  char *data(int64_t elementSize) const {
    return aligned + offset * elementSize;
  }

  /// Number of elements.
  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t i = 0; i < rank; ++i)
      n *= sizes[i];
    return n;
  }

  /// True when the elements are dense in row-major order (the strides of
  /// unit dimensions do not matter).
  bool isRowMajorDense() const {
    int64_t expected = 1;
    for (int64_t i = rank - 1; i >= 0; --i) {
      if (sizes[i] != 1 && strides[i] != expected)
        return false;
      expected *= sizes[i];
    }
    return true;
  }
};

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_MEMREFDESCRIPTOR_H
