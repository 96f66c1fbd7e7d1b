//===- DeviceCacheTest.cpp - the caching device allocator -----------------===//
//
// Freed device blocks come back without driver calls, only when the stream
// rules allow it, with the accounting unchanged, and the cache is released
// by a reset, a module unload, an allocation that ran out of memory and
// turning it off.
//
//===----------------------------------------------------------------------===//

#include "FakeDriver.h"

#include <cstdlib>
#include <vector>

using namespace bnb::test;

namespace {

class DeviceCacheTest : public FakeDriverTest {
protected:
  void SetUp() override {
    FakeDriverTest::SetUp();
    bnbrt_set_device_caching(1);
  }

  static uint64_t current(int category) {
    return bnbrt_memory_current(BNBRT_POOL_DEVICE, category);
  }
  static uint64_t peak(int category) {
    return bnbrt_memory_peak(BNBRT_POOL_DEVICE, category);
  }
  /// Size of the fake driver block at `ptr` (0 when it is not one).
  static size_t driverBlockSize(void *ptr) {
    auto it = fake().liveBlocks.find(reinterpret_cast<uintptr_t>(ptr));
    return it == fake().liveBlocks.end() ? 0 : it->second;
  }

  /// What the generated code of one model call does: a stream, its
  /// intermediates, launches, the frees after the last launch, then one wait.
  static void modelCall(void *fn) {
    void *stream = mgpuStreamCreate();
    std::vector<void *> blocks;
    for (uint64_t bytes : {96u, 4096u, 4096u, 70000u, 3u << 20})
      blocks.push_back(mgpuMemAlloc(bytes, stream, 0));
    for (void *block : blocks) {
      void *params[] = {&block};
      mgpuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, stream, params, nullptr, 1);
    }
    for (void *block : blocks)
      mgpuMemFree(block, stream);
    mgpuStreamSynchronize(stream);
    mgpuStreamDestroy(stream);
  }
};

TEST_F(DeviceCacheTest, ASecondModelCallMakesNoDriverAllocationOrFree) {
  char image[] = "fake:step";
  void *module = mgpuModuleLoad(image, sizeof(image));
  void *fn = mgpuModuleGetFunction(module, "step");
  modelCall(fn);
  ASSERT_EQ(error(), "");
  EXPECT_EQ(fake().allocCalls, 5);
  EXPECT_EQ(fake().freeCalls, 0);
  modelCall(fn);
  modelCall(fn);
  EXPECT_EQ(error(), "");
  EXPECT_EQ(fake().allocCalls, 5);
  EXPECT_EQ(fake().freeCalls, 0);
  EXPECT_EQ(fake().launches.size(), 15u);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  EXPECT_EQ(bnbrt_device_cache_blocks(), 5u);
  // 96 -> 512, 4096 twice, 70000 -> 128 KiB, 3 MiB -> 4 MiB.
  EXPECT_EQ(bnbrt_device_cache_bytes(),
            512u + 2 * 4096u + (128u << 10) + (4u << 20));
  // Unloading the model gives the blocks back to the driver.
  mgpuModuleUnload(module);
  EXPECT_EQ(fake().freeCalls, 5);
  EXPECT_TRUE(fake().liveBlocks.empty());
  EXPECT_EQ(bnbrt_device_cache_blocks(), 0u);
  EXPECT_EQ(bnbrt_device_cache_bytes(), 0u);
}

TEST_F(DeviceCacheTest, RequestsAreRoundedToTheirBucket) {
  void *a = bnbrt_alloc(1, BNBRT_CATEGORY_WORKSPACE);
  void *b = bnbrt_alloc(1000, BNBRT_CATEGORY_WORKSPACE);
  void *c = bnbrt_alloc((1u << 20) + 1, BNBRT_CATEGORY_WORKSPACE);
  ASSERT_TRUE(a && b && c) << error();
  EXPECT_EQ(driverBlockSize(a), 512u);
  EXPECT_EQ(driverBlockSize(b), 1024u);
  EXPECT_EQ(driverBlockSize(c), 2u << 20);
  // The accounting counts what was asked for.
  EXPECT_EQ(current(BNBRT_CATEGORY_WORKSPACE), 1u + 1000u + (1u << 20) + 1u);
  bnbrt_free(a);
  bnbrt_free(b);
  bnbrt_free(c);
  bnbrt_synchronize();
  // A request of another bucket does not take a cached block.
  void *d = bnbrt_alloc(2000, BNBRT_CATEGORY_WORKSPACE);
  EXPECT_EQ(driverBlockSize(d), 2048u);
  EXPECT_EQ(fake().allocCalls, 4);
  // One of the same bucket does.
  void *e = bnbrt_alloc(513, BNBRT_CATEGORY_WORKSPACE);
  EXPECT_EQ(e, b);
  EXPECT_EQ(fake().allocCalls, 4);
  bnbrt_free(d);
  bnbrt_free(e);
  EXPECT_EQ(error(), "");
}

TEST_F(DeviceCacheTest, OtherStreamsWaitForTheFreeingStreamToBeSynchronized) {
  void *s1 = mgpuStreamCreate();
  void *s2 = mgpuStreamCreate();
  void *p = mgpuMemAlloc(4096, s1, 0);
  mgpuMemFree(p, s1);
  // Work queued on s1 may still use p: s2 gets a new block, s1 gets p.
  void *q = mgpuMemAlloc(4096, s2, 0);
  EXPECT_NE(q, p);
  EXPECT_EQ(fake().allocCalls, 2);
  void *r = mgpuMemAlloc(4096, s1, 0);
  EXPECT_EQ(r, p);
  mgpuMemFree(r, s1);
  // Once the host has waited for s1, any stream may have it.
  mgpuStreamSynchronize(s1);
  void *t = mgpuMemAlloc(4096, s2, 0);
  EXPECT_EQ(t, p);
  EXPECT_EQ(fake().allocCalls, 2);
  mgpuMemFree(q, s2);
  mgpuMemFree(t, s2);
  mgpuStreamDestroy(s1);
  mgpuStreamDestroy(s2);
  EXPECT_EQ(error(), "");
}

TEST_F(DeviceCacheTest, BlocksFreedWithoutAStreamWaitForTheDevice) {
  void *stream = mgpuStreamCreate();
  void *p = bnbrt_alloc(4096, BNBRT_CATEGORY_ACTIVATIONS);
  bnbrt_free(p);
  // Nothing says which stream last used p.
  void *q = bnbrt_alloc(4096, BNBRT_CATEGORY_ACTIVATIONS);
  void *r = mgpuMemAlloc(4096, stream, 0);
  EXPECT_NE(q, p);
  EXPECT_NE(r, p);
  EXPECT_EQ(fake().allocCalls, 3);
  bnbrt_synchronize();
  void *s = mgpuMemAlloc(4096, stream, 0);
  EXPECT_EQ(s, p);
  EXPECT_EQ(fake().allocCalls, 3);
  bnbrt_free(q);
  mgpuMemFree(r, stream);
  mgpuMemFree(s, stream);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(error(), "");
}

TEST_F(DeviceCacheTest, BlocksOfADestroyedStreamWaitForTheDevice) {
  void *stream = mgpuStreamCreate();
  void *p = mgpuMemAlloc(4096, stream, 0);
  mgpuMemFree(p, stream);
  mgpuStreamDestroy(stream);
  // A new stream may get the old handle; it must not inherit the order.
  void *again = mgpuStreamCreate();
  void *q = mgpuMemAlloc(4096, again, 0);
  EXPECT_NE(q, p);
  bnbrt_stream_synchronize(again);
  void *r = mgpuMemAlloc(4096, again, 0);
  EXPECT_NE(r, p);
  bnbrt_synchronize();
  void *s = mgpuMemAlloc(4096, again, 0);
  EXPECT_EQ(s, p);
  EXPECT_EQ(fake().allocCalls, 3);
  for (void *block : {q, r, s})
    mgpuMemFree(block, again);
  mgpuStreamDestroy(again);
  EXPECT_EQ(error(), "");
}

TEST_F(DeviceCacheTest, AccountingCountsLiveBlocksAndReportsTheCacheApart) {
  void *stream = mgpuStreamCreate();
  bnbrt_set_category(BNBRT_CATEGORY_WORKSPACE);
  void *a = mgpuMemAlloc(3000, stream, 0);
  mgpuMemFree(a, stream);
  bnbrt_set_category(BNBRT_CATEGORY_ACTIVATIONS);
  void *b = mgpuMemAlloc(2500, stream, 0);
  ASSERT_EQ(b, a);
  // The reused block is charged to the new request's category and size.
  EXPECT_EQ(current(BNBRT_CATEGORY_WORKSPACE), 0u);
  EXPECT_EQ(current(BNBRT_CATEGORY_ACTIVATIONS), 2500u);
  EXPECT_EQ(peak(BNBRT_CATEGORY_WORKSPACE), 3000u);
  EXPECT_EQ(peak(BNBRT_CATEGORY_ACTIVATIONS), 2500u);
  EXPECT_EQ(peak(BNBRT_CATEGORY_TOTAL), 3000u);
  EXPECT_EQ(bnbrt_device_cache_bytes(), 0u);
  bnbrt_memory_stats stats;
  ASSERT_EQ(bnbrt_get_memory_stats(BNBRT_POOL_DEVICE, BNBRT_CATEGORY_TOTAL,
                                   &stats),
            0);
  EXPECT_EQ(stats.total_allocations, 2u);
  EXPECT_EQ(stats.total_frees, 1u);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 1u);

  mgpuMemFree(b, stream);
  EXPECT_EQ(current(BNBRT_CATEGORY_TOTAL), 0u);
  EXPECT_EQ(bnbrt_device_cache_bytes(), 4096u);
  // A cached block is not a leak, and freeing it again is still an error.
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  char report[128];
  bnbrt_leak_report_string(report, sizeof(report));
  EXPECT_STREQ(report, "bnb runtime: no outstanding allocations\n");
  mgpuMemFree(b, stream);
  EXPECT_NE(error().find("not a live allocation"), std::string::npos);
  EXPECT_EQ(fake().freeCalls, 0);
  EXPECT_EQ(bnbrt_device_cache_blocks(), 1u);
  mgpuStreamDestroy(stream);
}

TEST_F(DeviceCacheTest, OutOfMemoryReleasesTheCacheAndRetries) {
  void *stream = mgpuStreamCreate();
  void *a = mgpuMemAlloc(4096, stream, 0);
  void *b = mgpuMemAlloc(8192, stream, 0);
  mgpuMemFree(a, stream);
  mgpuMemFree(b, stream);
  fake().failAllocAt = 3;
  void *c = mgpuMemAlloc(100000, stream, 0);
  ASSERT_NE(c, nullptr) << error();
  EXPECT_EQ(error(), "");
  // The refused call, both cached blocks freed, then the retry.
  EXPECT_EQ(fake().allocCalls, 4);
  EXPECT_EQ(fake().freeCalls, 2);
  EXPECT_EQ(bnbrt_device_cache_blocks(), 0u);
  EXPECT_EQ(fake().liveBlocks.size(), 1u);
  EXPECT_EQ(current(BNBRT_CATEGORY_TOTAL), 100000u);
  mgpuMemFree(c, stream);
  mgpuStreamDestroy(stream);
}

TEST_F(DeviceCacheTest, OutOfMemoryWithAnEmptyCacheIsReportedOnce) {
  fake().failAllocAt = 1;
  EXPECT_EQ(mgpuMemAlloc(5000, nullptr, 0), nullptr);
  EXPECT_EQ(error(), "cuMemAlloc_v2(8192 bytes) failed: "
                     "CUDA_ERROR_OUT_OF_MEMORY (out of memory) [category "
                     "activations; the runtime holds 0 bytes of device "
                     "memory]");
  EXPECT_EQ(fake().allocCalls, 1);
  EXPECT_EQ(current(BNBRT_CATEGORY_TOTAL), 0u);
}

TEST_F(DeviceCacheTest, ResetAndTurningCachingOffFreeTheCache) {
  void *a = bnbrt_alloc(4096, BNBRT_CATEGORY_ACTIVATIONS);
  bnbrt_free(a);
  EXPECT_EQ(fake().freeCalls, 0);
  EXPECT_EQ(bnbrt_set_device_caching(0), 1);
  EXPECT_EQ(fake().freeCalls, 1);
  EXPECT_TRUE(fake().liveBlocks.empty());
  // Off: exact sizes, frees go to the driver.
  void *b = bnbrt_alloc(1000, BNBRT_CATEGORY_ACTIVATIONS);
  EXPECT_EQ(driverBlockSize(b), 1000u);
  bnbrt_free(b);
  EXPECT_EQ(fake().freeCalls, 2);

  bnbrt_set_device_caching(1);
  void *c = bnbrt_alloc(1000, BNBRT_CATEGORY_ACTIVATIONS);
  bnbrt_free(c);
  EXPECT_EQ(bnbrt_empty_device_cache(), 1u);
  EXPECT_EQ(fake().freeCalls, 3);
  void *d = bnbrt_alloc(1000, BNBRT_CATEGORY_ACTIVATIONS);
  bnbrt_free(d);
  bnbrt_reset();
  EXPECT_EQ(fake().freeCalls, 4);
  EXPECT_TRUE(fake().liveBlocks.empty());
}

TEST_F(DeviceCacheTest, TheEnvironmentChoosesTheDefault) {
  setenv("BNB_CUDA_CACHING", "0", 1);
  bnbrt_reset();
  EXPECT_EQ(bnbrt_device_caching_enabled(), 0);
  setenv("BNB_CUDA_CACHING", "1", 1);
  bnbrt_reset();
  EXPECT_EQ(bnbrt_device_caching_enabled(), 1);
  unsetenv("BNB_CUDA_CACHING");
  bnbrt_reset();
  EXPECT_EQ(bnbrt_device_caching_enabled(), 1);
}

} // namespace
