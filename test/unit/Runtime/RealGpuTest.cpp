//===- RealGpuTest.cpp - the runtime on a real device ---------------------===//
//
// Runs against the installed libcuda. Without a driver or device each test
// skips, after checking that the reason is the clean "no CUDA ..." error.
//
//===----------------------------------------------------------------------===//

#include "bnb_runtime.h"
#include "bnb_runtime_abi.h"
#include "bnb_runtime_driver.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

/// fill(out, value, n): out[i] = value for i < n (PTX ISA 7.0, sm_70+).
const char kFillPtx[] =
    ".version 7.0\n"
    ".target sm_70\n"
    ".address_size 64\n"
    "\n"
    ".visible .entry fill(\n"
    "\t.param .u64 fill_out,\n"
    "\t.param .f32 fill_value,\n"
    "\t.param .u32 fill_n\n"
    ")\n"
    "{\n"
    "\t.reg .pred \t%p<2>;\n"
    "\t.reg .b32 \t%r<6>;\n"
    "\t.reg .f32 \t%f<2>;\n"
    "\t.reg .b64 \t%rd<5>;\n"
    "\n"
    "\tld.param.u64 \t%rd1, [fill_out];\n"
    "\tld.param.f32 \t%f1, [fill_value];\n"
    "\tld.param.u32 \t%r1, [fill_n];\n"
    "\tmov.u32 \t%r2, %ctaid.x;\n"
    "\tmov.u32 \t%r3, %ntid.x;\n"
    "\tmov.u32 \t%r4, %tid.x;\n"
    "\tmad.lo.s32 \t%r5, %r2, %r3, %r4;\n"
    "\tsetp.ge.u32 \t%p1, %r5, %r1;\n"
    "\t@%p1 bra \tDONE;\n"
    "\tcvta.to.global.u64 \t%rd2, %rd1;\n"
    "\tmul.wide.u32 \t%rd3, %r5, 4;\n"
    "\tadd.s64 \t%rd4, %rd2, %rd3;\n"
    "\tst.global.f32 \t[%rd4], %f1;\n"
    "DONE:\n"
    "\tret;\n"
    "}\n";

class RealGpuTest : public ::testing::Test {
protected:
  void SetUp() override {
    bnbrt_set_driver_table(nullptr);
    bnbrt_set_driver_path(nullptr);
    bnbrt_reset();
    char why[512] = {};
    if (!bnbrt_cuda_available(why, sizeof(why))) {
      EXPECT_EQ(std::string(why).rfind("no CUDA", 0), 0u) << why;
      GTEST_SKIP() << why;
    }
  }
  void TearDown() override { bnbrt_reset(); }
  static std::string error() {
    const char *e = bnbrt_last_error();
    return e ? e : "";
  }
};

TEST_F(RealGpuTest, DeviceInfoIsPlausible) {
  bnbrt_device_info info;
  ASSERT_EQ(bnbrt_get_device_info(&info), 0) << error();
  EXPECT_GE(bnbrt_device_count(), 1);
  EXPECT_STRNE(info.name, "");
  EXPECT_GE(info.sm_major, 5);
  EXPECT_GT(info.multiprocessor_count, 0);
  EXPECT_GT(info.total_memory_bytes, 0u);
  EXPECT_LE(info.free_memory_bytes, info.total_memory_bytes);
  EXPECT_GE(info.driver_version, 11000);
}

TEST_F(RealGpuTest, UploadLaunchDownloadAndTime) {
  const unsigned n = 1000;
  std::vector<float> host(n, -1.0f);
  void *buf = bnbrt_alloc(n * sizeof(float), BNBRT_CATEGORY_ACTIVATIONS);
  ASSERT_NE(buf, nullptr) << error();
  ASSERT_EQ(bnbrt_memcpy_h2d(buf, host.data(), n * sizeof(float)), 0);

  void *module = mgpuModuleLoadJIT(const_cast<char *>(kFillPtx), 2);
  ASSERT_NE(module, nullptr) << error();
  void *fn = mgpuModuleGetFunction(module, "fill");
  ASSERT_NE(fn, nullptr) << error();
  bnbrt_set_profiling(1);
  void *stream = mgpuStreamCreate();
  float value = 4.25f;
  unsigned count = n - 1; // leave the last element alone
  void *params[] = {&buf, &value, &count};
  mgpuLaunchKernel(fn, (n + 127) / 128, 1, 1, 128, 1, 1, 0, stream, params,
                   nullptr, 3);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  ASSERT_EQ(error(), "");

  ASSERT_EQ(bnbrt_memcpy_d2h(host.data(), buf, n * sizeof(float)), 0);
  for (unsigned i = 0; i + 1 < n; ++i)
    ASSERT_EQ(host[i], 4.25f) << i;
  EXPECT_EQ(host[n - 1], -1.0f);

  ASSERT_EQ(bnbrt_kernel_stats_count(), 1u);
  bnbrt_kernel_stats stats;
  ASSERT_EQ(bnbrt_get_kernel_stats(0, &stats), 0);
  EXPECT_STREQ(stats.name, "fill");
  EXPECT_EQ(stats.launches, 1u);
  EXPECT_GT(stats.total_ms, 0.0);

  bnbrt_free(buf);
  mgpuModuleUnload(module);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  EXPECT_EQ(error(), "");
}

TEST_F(RealGpuTest, ImpossibleAllocationIsOutOfMemory) {
  EXPECT_EQ(bnbrt_alloc(size_t(1) << 52, BNBRT_CATEGORY_WEIGHTS), nullptr);
  EXPECT_EQ(error().rfind("cuMemAlloc_v2(4503599627370496 bytes) failed: "
                          "CUDA_ERROR_OUT_OF_MEMORY",
                          0),
            0u)
      << error();
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
}

} // namespace
