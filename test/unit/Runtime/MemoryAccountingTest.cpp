//===- MemoryAccountingTest.cpp - categories, peaks, leaks, OOM -----------===//

#include "FakeDriver.h"

using namespace bnb::test;

namespace {

class MemoryAccountingTest : public FakeDriverTest {
protected:
  static uint64_t current(int category) {
    return bnbrt_memory_current(BNBRT_POOL_DEVICE, category);
  }
  static uint64_t peak(int category) {
    return bnbrt_memory_peak(BNBRT_POOL_DEVICE, category);
  }
  static std::string leakReport() {
    size_t n = bnbrt_leak_report_string(nullptr, 0);
    std::string text(n, '\0');
    bnbrt_leak_report_string(text.data(), n + 1);
    return text;
  }
};

TEST_F(MemoryAccountingTest, AllocationSitesChooseTheCategory) {
  EXPECT_EQ(bnbrt_get_category(), BNBRT_CATEGORY_ACTIVATIONS);
  void *act = mgpuMemAlloc(100, nullptr, 0);
  EXPECT_EQ(bnbrt_set_category(BNBRT_CATEGORY_WEIGHTS),
            BNBRT_CATEGORY_ACTIVATIONS);
  void *w = mgpuMemAlloc(1000, nullptr, 0);
  void *kv = bnbrt_alloc(500, BNBRT_CATEGORY_KV_CACHE);
  void *ws = bnbrtMemAlloc(300, nullptr, BNBRT_CATEGORY_WORKSPACE);
  ASSERT_TRUE(act && w && kv && ws) << error();
  EXPECT_EQ(current(BNBRT_CATEGORY_ACTIVATIONS), 100u);
  EXPECT_EQ(current(BNBRT_CATEGORY_WEIGHTS), 1000u);
  EXPECT_EQ(current(BNBRT_CATEGORY_KV_CACHE), 500u);
  EXPECT_EQ(current(BNBRT_CATEGORY_WORKSPACE), 300u);
  EXPECT_EQ(current(BNBRT_CATEGORY_TOTAL), 1900u);
  EXPECT_EQ(bnbrt_memory_current(BNBRT_POOL_HOST, BNBRT_CATEGORY_TOTAL), 0u);

  // A free is charged back to the category of the block, not the current one.
  bnbrt_set_category(BNBRT_CATEGORY_ACTIVATIONS);
  mgpuMemFree(w, nullptr);
  EXPECT_EQ(current(BNBRT_CATEGORY_WEIGHTS), 0u);
  EXPECT_EQ(current(BNBRT_CATEGORY_ACTIVATIONS), 100u);
  bnbrt_free(act);
  bnbrt_free(kv);
  mgpuMemFree(ws, nullptr);
  EXPECT_EQ(current(BNBRT_CATEGORY_TOTAL), 0u);
  EXPECT_EQ(error(), "");
  EXPECT_TRUE(fake().liveBlocks.empty());
}

TEST_F(MemoryAccountingTest, PeaksAreKeptPerCategoryAndForTheSum) {
  bnbrt_set_category(BNBRT_CATEGORY_WEIGHTS);
  void *w = mgpuMemAlloc(1000, nullptr, 0);
  mgpuMemFree(w, nullptr);
  bnbrt_set_category(BNBRT_CATEGORY_ACTIVATIONS);
  void *a = mgpuMemAlloc(800, nullptr, 0);
  void *b = mgpuMemAlloc(150, nullptr, 0);
  mgpuMemFree(a, nullptr);
  void *c = mgpuMemAlloc(400, nullptr, 0);

  EXPECT_EQ(peak(BNBRT_CATEGORY_WEIGHTS), 1000u);
  EXPECT_EQ(peak(BNBRT_CATEGORY_ACTIVATIONS), 950u);
  EXPECT_EQ(current(BNBRT_CATEGORY_ACTIVATIONS), 550u);
  // The total peaked at 1000 (weights alone), not at 1000 + 950.
  EXPECT_EQ(peak(BNBRT_CATEGORY_TOTAL), 1000u);

  bnbrt_memory_stats s;
  ASSERT_EQ(bnbrt_get_memory_stats(BNBRT_POOL_DEVICE,
                                   BNBRT_CATEGORY_ACTIVATIONS, &s),
            0);
  EXPECT_EQ(s.current_blocks, 2u);
  EXPECT_EQ(s.total_allocations, 3u);
  EXPECT_EQ(s.total_frees, 1u);

  bnbrt_reset_memory_peaks();
  EXPECT_EQ(peak(BNBRT_CATEGORY_WEIGHTS), 0u);
  EXPECT_EQ(peak(BNBRT_CATEGORY_ACTIVATIONS), 550u);
  EXPECT_EQ(peak(BNBRT_CATEGORY_TOTAL), 550u);
  mgpuMemFree(b, nullptr);
  mgpuMemFree(c, nullptr);
}

TEST_F(MemoryAccountingTest, InvalidQueriesAndCategoriesAreRejected) {
  bnbrt_memory_stats s;
  EXPECT_EQ(bnbrt_get_memory_stats(2, 0, &s), -1);
  EXPECT_EQ(
      bnbrt_get_memory_stats(BNBRT_POOL_DEVICE, BNBRT_NUM_CATEGORIES, &s), -1);
  EXPECT_EQ(bnbrt_get_memory_stats(BNBRT_POOL_DEVICE, -2, &s), -1);
  EXPECT_EQ(bnbrt_set_category(7), -1);
  EXPECT_EQ(bnbrt_get_category(), BNBRT_CATEGORY_ACTIVATIONS);
  EXPECT_STREQ(bnbrt_category_name(BNBRT_CATEGORY_KV_CACHE), "kv-cache");
  EXPECT_STREQ(bnbrt_category_name(BNBRT_CATEGORY_TOTAL), "total");
  EXPECT_STREQ(bnbrt_category_name(9), "invalid");
  EXPECT_EQ(bnbrt_alloc(16, 9), nullptr);
  EXPECT_EQ(error(), "bnbrt_alloc: invalid memory category 9");
  EXPECT_EQ(fake().allocCalls, 0);
}

TEST_F(MemoryAccountingTest, LeakReportListsOutstandingBlocksUntilFreed) {
  EXPECT_EQ(leakReport(), "bnb runtime: no outstanding allocations\n");
  void *w1 = bnbrt_alloc(1000, BNBRT_CATEGORY_WEIGHTS);
  void *w2 = bnbrt_alloc(2000, BNBRT_CATEGORY_WEIGHTS);
  void *a = mgpuMemAlloc(64, nullptr, 0);
  void *h = bnbrt_host_alloc(32, 0, BNBRT_CATEGORY_WORKSPACE);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 4u);
  EXPECT_EQ(leakReport(),
            "bnb runtime: 4 outstanding allocation(s), 3096 bytes\n"
            "  device weights: 2 block(s), 3000 bytes\n"
            "  device activations: 1 block(s), 64 bytes\n"
            "  host workspace: 1 block(s), 32 bytes\n");
  // Truncation behaves like snprintf.
  char small[8];
  EXPECT_EQ(bnbrt_leak_report_string(small, sizeof(small)),
            leakReport().size());
  EXPECT_STREQ(small, "bnb run");

  bnbrt_free(w1);
  bnbrt_free(w2);
  mgpuMemFree(a, nullptr);
  bnbrt_host_free(h);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  EXPECT_EQ(leakReport(), "bnb runtime: no outstanding allocations\n");
  EXPECT_EQ(bnbrt_leak_report(nullptr), 0u);
}

TEST_F(MemoryAccountingTest, OutOfMemoryOnTheNthAllocationIsStickyAndLeaksNothing) {
  char image[] = "fake:scale";
  void *module = mgpuModuleLoad(image, sizeof(image));
  void *fn = mgpuModuleGetFunction(module, "scale");
  fake().failAllocAt = 3;
  void *a = mgpuMemAlloc(4096, nullptr, 0);
  void *b = mgpuMemAlloc(8192, nullptr, 0);
  ASSERT_TRUE(a && b);
  void *c = mgpuMemAlloc(uint64_t(1) << 30, nullptr, 0);
  EXPECT_EQ(c, nullptr);
  std::string e = error();
  EXPECT_EQ(e.rfind("cuMemAlloc_v2(1073741824 bytes) failed: "
                    "CUDA_ERROR_OUT_OF_MEMORY (out of memory)",
                    0),
            0u)
      << e;
  EXPECT_NE(e.find("category activations; the runtime holds 12288 bytes"),
            std::string::npos)
      << e;

  // What generated code does after the failed alloc: keep going.
  void *params[] = {&c};
  mgpuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, nullptr, params, nullptr, 1);
  void *d = mgpuMemAlloc(16, nullptr, 0);
  mgpuMemFree(c, nullptr);
  mgpuMemFree(d, nullptr);
  EXPECT_TRUE(fake().launches.empty());
  EXPECT_EQ(d, nullptr);
  EXPECT_EQ(fake().allocCalls, 3);
  // Frees still release the blocks that were made.
  mgpuMemFree(a, nullptr);
  mgpuMemFree(b, nullptr);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  EXPECT_TRUE(fake().liveBlocks.empty());
  EXPECT_EQ(current(BNBRT_CATEGORY_TOTAL), 0u);
  EXPECT_EQ(peak(BNBRT_CATEGORY_TOTAL), 12288u);
  // The first error is the one reported.
  EXPECT_EQ(error(), e);
  mgpuModuleUnload(module);
}

TEST_F(MemoryAccountingTest, DoubleFreeIsReportedNotPassedToTheDriver) {
  void *a = mgpuMemAlloc(16, nullptr, 0);
  mgpuMemFree(a, nullptr);
  mgpuMemFree(a, nullptr);
  std::string e = error();
  EXPECT_NE(e.find("not a live allocation of the runtime"), std::string::npos)
      << e;
  EXPECT_EQ(fake().freeCalls, 1);
  mgpuMemFree(nullptr, nullptr);
  EXPECT_EQ(fake().freeCalls, 1);
}

TEST_F(MemoryAccountingTest, HostSharedAllocationsAreManagedMemory) {
  void *m = mgpuMemAlloc(256, nullptr, 1);
  ASSERT_NE(m, nullptr) << error();
  EXPECT_EQ(fake().managedAllocCalls, 1);
  EXPECT_EQ(fake().allocCalls, 0);
  EXPECT_EQ(current(BNBRT_CATEGORY_ACTIVATIONS), 256u);
  mgpuMemFree(m, nullptr);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
}

TEST_F(MemoryAccountingTest, ZeroByteAllocationsReturnNullWithoutError) {
  EXPECT_EQ(mgpuMemAlloc(0, nullptr, 0), nullptr);
  EXPECT_EQ(bnbrt_alloc(0, BNBRT_CATEGORY_WEIGHTS), nullptr);
  EXPECT_EQ(error(), "");
  EXPECT_EQ(fake().allocCalls, 0);
}

TEST_F(MemoryAccountingTest, ExplicitTransfersRoundTrip) {
  std::vector<int32_t> in(1000), out(1000, 0);
  for (int i = 0; i < 1000; ++i)
    in[size_t(i)] = i * 7 - 3;
  void *a = bnbrt_alloc(4000, BNBRT_CATEGORY_WEIGHTS);
  void *b = bnbrt_alloc(4000, BNBRT_CATEGORY_ACTIVATIONS);
  ASSERT_EQ(bnbrt_memcpy_h2d(a, in.data(), 4000), 0);
  ASSERT_EQ(bnbrt_memcpy_d2d(b, a, 4000), 0);
  ASSERT_EQ(bnbrt_memcpy_d2h(out.data(), b, 4000), 0);
  EXPECT_EQ(in, out);
  ASSERT_EQ(bnbrt_memset(b, 0, 4000), 0);
  ASSERT_EQ(bnbrt_memcpy_d2h(out.data(), b, 4000), 0);
  EXPECT_EQ(out, std::vector<int32_t>(1000, 0));
  EXPECT_EQ(bnbrt_synchronize(), 0);
  EXPECT_EQ(bnbrt_stream_synchronize(nullptr), 0);
  bnbrt_free(a);
  bnbrt_free(b);
  EXPECT_EQ(error(), "");
}

TEST_F(MemoryAccountingTest, TransferFailureNamesTheCallAndIsSticky) {
  void *a = bnbrt_alloc(64, BNBRT_CATEGORY_WEIGHTS);
  char host[64] = {};
  fake().memcpyResult = 1;
  EXPECT_EQ(bnbrt_memcpy_h2d(a, host, 64), -1);
  EXPECT_EQ(error(), "cuMemcpyHtoD_v2(64 bytes) failed: "
                     "CUDA_ERROR_INVALID_VALUE (invalid argument)");
  fake().memcpyResult = 0;
  EXPECT_EQ(bnbrt_memcpy_d2h(host, a, 64), -1); // sticky
  bnbrt_clear_error();
  EXPECT_EQ(bnbrt_memcpy_d2h(host, a, 64), 0);
  bnbrt_free(a);
}

TEST_F(MemoryAccountingTest, SynchronizeReportsAsynchronousFaults) {
  fake().syncResult = 700;
  EXPECT_EQ(bnbrt_synchronize(), -1);
  EXPECT_EQ(error(), "cuCtxSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS (an "
                     "illegal memory access was encountered)");
}

} // namespace
