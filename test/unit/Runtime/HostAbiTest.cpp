//===- HostAbiTest.cpp - memref allocation functions and memrefCopy -------===//

#include "bnb_runtime.h"
#include "bnb_runtime_abi.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

namespace {

class HostAbiTest : public ::testing::Test {
protected:
  void SetUp() override { bnbrt_reset(); }
  void TearDown() override { bnbrt_reset(); }
  static uint64_t hostCurrent(int category) {
    return bnbrt_memory_current(BNBRT_POOL_HOST, category);
  }
};

TEST_F(HostAbiTest, AllocAndFreeAreAccountedToTheCurrentCategory) {
  void *a = _mlir_memref_to_llvm_alloc(1000);
  ASSERT_NE(a, nullptr);
  std::memset(a, 0x5a, 1000); // writable
  bnbrt_set_category(BNBRT_CATEGORY_KV_CACHE);
  void *b = _mlir_memref_to_llvm_aligned_alloc(64, 256);
  void *c = bnbrtHostAlloc(48, 0, BNBRT_CATEGORY_WORKSPACE);
  EXPECT_EQ(hostCurrent(BNBRT_CATEGORY_ACTIVATIONS), 1000u);
  EXPECT_EQ(hostCurrent(BNBRT_CATEGORY_KV_CACHE), 256u);
  EXPECT_EQ(hostCurrent(BNBRT_CATEGORY_WORKSPACE), 48u);
  EXPECT_EQ(hostCurrent(BNBRT_CATEGORY_TOTAL), 1304u);
  EXPECT_EQ(bnbrt_memory_current(BNBRT_POOL_DEVICE, BNBRT_CATEGORY_TOTAL), 0u);
  _mlir_memref_to_llvm_free(a);
  _mlir_memref_to_llvm_free(b);
  _mlir_memref_to_llvm_free(c);
  _mlir_memref_to_llvm_free(nullptr);
  EXPECT_EQ(hostCurrent(BNBRT_CATEGORY_TOTAL), 0u);
  EXPECT_EQ(bnbrt_memory_peak(BNBRT_POOL_HOST, BNBRT_CATEGORY_TOTAL), 1304u);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  EXPECT_EQ(bnbrt_last_error(), nullptr);
}

TEST_F(HostAbiTest, AlignedAllocHonoursTheAlignment) {
  for (size_t alignment : {size_t(16), size_t(64), size_t(128), size_t(4096),
                           size_t(48) /* rounded up to 64 */}) {
    void *p = _mlir_memref_to_llvm_aligned_alloc(alignment, 100);
    ASSERT_NE(p, nullptr);
    size_t required = alignment == 48 ? 64 : alignment;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % required, 0u) << alignment;
    _mlir_memref_to_llvm_free(p);
  }
  // Zero bytes still give a unique, freeable pointer.
  void *z1 = _mlir_memref_to_llvm_alloc(0);
  void *z2 = _mlir_memref_to_llvm_alloc(0);
  EXPECT_NE(z1, nullptr);
  EXPECT_NE(z1, z2);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 2u);
  _mlir_memref_to_llvm_free(z1);
  _mlir_memref_to_llvm_free(z2);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
}

TEST_F(HostAbiTest, FreeingUntrackedMemoryLeavesTheCountersAlone) {
  void *tracked = _mlir_memref_to_llvm_alloc(64);
  void *foreign = std::malloc(32);
  _mlir_memref_to_llvm_free(foreign);
  EXPECT_EQ(hostCurrent(BNBRT_CATEGORY_TOTAL), 64u);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 1u);
  _mlir_memref_to_llvm_free(tracked);
}

TEST_F(HostAbiTest, ConcurrentAllocationsKeepTheCountersConsistent) {
  const int threads = 4, rounds = 2000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([t] {
      std::vector<void *> live;
      for (int i = 0; i < rounds; ++i) {
        live.push_back(_mlir_memref_to_llvm_alloc(size_t(8 + t)));
        if (i % 3 == 2) {
          _mlir_memref_to_llvm_free(live.back());
          live.pop_back();
        }
      }
      for (void *p : live)
        _mlir_memref_to_llvm_free(p);
    });
  for (std::thread &t : pool)
    t.join();
  bnbrt_memory_stats s;
  ASSERT_EQ(bnbrt_get_memory_stats(BNBRT_POOL_HOST, BNBRT_CATEGORY_TOTAL, &s),
            0);
  EXPECT_EQ(s.total_allocations, uint64_t(threads * rounds));
  EXPECT_EQ(s.total_frees, uint64_t(threads * rounds));
  EXPECT_EQ(s.current_bytes, 0u);
  EXPECT_EQ(s.current_blocks, 0u);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
}

/// A ranked descriptor of up to rank 4, as MLIR lays it out for that rank
/// (sizes then strides, each `rank` long, packed).
struct Desc {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t shape[8];
};

Desc makeDesc(void *base, int64_t offset, std::vector<int64_t> sizes,
              std::vector<int64_t> strides) {
  Desc d{base, base, offset, {}};
  for (size_t i = 0; i < sizes.size(); ++i) {
    d.shape[i] = sizes[i];
    d.shape[sizes.size() + i] = strides[i];
  }
  return d;
}

/// Independent reference: element-by-element via explicit multi-indices.
template <typename T>
void referenceCopy(const T *src, int64_t srcOffset, const T *unused, T *dst,
                   int64_t dstOffset, const std::vector<int64_t> &sizes,
                   const std::vector<int64_t> &srcStrides,
                   const std::vector<int64_t> &dstStrides) {
  (void)unused;
  int64_t count = 1;
  for (int64_t s : sizes)
    count *= s;
  for (int64_t linear = 0; linear < count; ++linear) {
    int64_t rem = linear, so = srcOffset, dO = dstOffset;
    for (int64_t d = int64_t(sizes.size()) - 1; d >= 0; --d) {
      int64_t i = rem % sizes[size_t(d)];
      rem /= sizes[size_t(d)];
      so += i * srcStrides[size_t(d)];
      dO += i * dstStrides[size_t(d)];
    }
    dst[dO] = src[so];
  }
}

template <typename T>
void checkCopy(std::vector<int64_t> sizes, int64_t srcOffset,
               std::vector<int64_t> srcStrides, size_t srcLen,
               int64_t dstOffset, std::vector<int64_t> dstStrides,
               size_t dstLen) {
  std::vector<T> src(srcLen);
  for (size_t i = 0; i < srcLen; ++i)
    src[i] = T(i * 3 + 1);
  std::vector<T> got(dstLen, T(-7)), want(dstLen, T(-7));
  referenceCopy(src.data(), srcOffset, src.data(), want.data(), dstOffset,
                sizes, srcStrides, dstStrides);
  Desc s = makeDesc(src.data(), srcOffset, sizes, srcStrides);
  Desc d = makeDesc(got.data(), dstOffset, sizes, dstStrides);
  bnbrt_unranked_memref us{int64_t(sizes.size()), &s};
  bnbrt_unranked_memref ud{int64_t(sizes.size()), &d};
  memrefCopy(sizeof(T), &us, &ud);
  EXPECT_EQ(got, want);
  EXPECT_EQ(bnbrt_last_error(), nullptr);
}

TEST_F(HostAbiTest, MemrefCopyContiguous) {
  checkCopy<float>({4, 5}, 0, {5, 1}, 20, 0, {5, 1}, 20);
  checkCopy<float>({7}, 3, {1}, 10, 2, {1}, 9);
}

TEST_F(HostAbiTest, MemrefCopyFromATransposedView) {
  // src is a 6x4 view of a 4x6 row-major buffer (strides swapped).
  checkCopy<float>({6, 4}, 0, {1, 6}, 24, 0, {4, 1}, 24);
}

TEST_F(HostAbiTest, MemrefCopyIntoASubviewWithOffset) {
  // dst is the 3x5 block at (2, 3) of a 8x10 buffer; src a 3x5 block with a
  // row pitch of 7 starting at element 4.
  checkCopy<int16_t>({3, 5}, 4, {7, 1}, 40, 2 * 10 + 3, {10, 1}, 80);
}

TEST_F(HostAbiTest, MemrefCopyStridedInnerDimensionRank3) {
  // Every other element in the innermost dimension on both sides.
  checkCopy<double>({2, 3, 4}, 1, {30, 10, 2}, 70, 5, {40, 12, 3}, 100);
}

TEST_F(HostAbiTest, MemrefCopyRank4WithUnitAndBroadcastDims) {
  // Stride 0 in the source broadcasts along dimension 1.
  checkCopy<int32_t>({2, 3, 1, 5}, 0, {5, 0, 99, 1}, 10, 0, {15, 5, 5, 1},
                     30);
}

TEST_F(HostAbiTest, MemrefCopyRankZeroAndEmpty) {
  float a = 3.5f, b = 0;
  Desc s{&a, &a, 0, {}};
  Desc d{&b, &b, 0, {}};
  bnbrt_unranked_memref us{0, &s}, ud{0, &d};
  memrefCopy(sizeof(float), &us, &ud);
  EXPECT_EQ(b, 3.5f);
  // A zero-sized dimension copies nothing (and reads nothing).
  checkCopy<float>({3, 0, 2}, 0, {0, 2, 1}, 1, 0, {0, 2, 1}, 1);
}

TEST_F(HostAbiTest, MemrefCopyRejectsMismatchedShapes) {
  std::vector<float> x(6), y(6, 9.0f);
  Desc s = makeDesc(x.data(), 0, {2, 3}, {3, 1});
  Desc d = makeDesc(y.data(), 0, {3, 2}, {2, 1});
  bnbrt_unranked_memref us{2, &s}, ud{2, &d};
  memrefCopy(sizeof(float), &us, &ud);
  ASSERT_NE(bnbrt_last_error(), nullptr);
  EXPECT_STREQ(bnbrt_last_error(), "memrefCopy: dimension 0 differs (2 vs 3)");
  EXPECT_EQ(y, std::vector<float>(6, 9.0f));
}

} // namespace
