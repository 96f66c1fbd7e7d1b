//===- ProfilingTest.cpp - per-kernel timings -----------------------------===//

#include "FakeDriver.h"

#include <cstdio>

using namespace bnb::test;

namespace {

class ProfilingTest : public FakeDriverTest {
protected:
  void SetUp() override {
    FakeDriverTest::SetUp();
    fake().kernelMs["scale"] = 0.25;
    fake().kernelMs["gemm"] = 1.5;
    module = mgpuModuleLoad(image, sizeof(image));
    ASSERT_NE(module, nullptr) << error();
  }
  void TearDown() override {
    mgpuModuleUnload(module);
    FakeDriverTest::TearDown();
  }
  void launch(const char *name, int times) {
    for (int i = 0; i < times; ++i)
      mgpuLaunchKernel(mgpuModuleGetFunction(module, name), 1, 1, 1, 32, 1, 1,
                       0, nullptr, nullptr, nullptr, 0);
  }
  static bnbrt_kernel_stats stats(size_t i) {
    bnbrt_kernel_stats s{};
    EXPECT_EQ(bnbrt_get_kernel_stats(i, &s), 0);
    return s;
  }

  char image[16] = "fake:scale,gemm";
  void *module = nullptr;
};

TEST_F(ProfilingTest, CountsLaunchesAndSumsEventTimesPerKernel) {
  bnbrt_set_profiling(1);
  EXPECT_EQ(bnbrt_profiling_enabled(), 1);
  launch("scale", 3);
  launch("gemm", 2);
  launch("scale", 1);
  ASSERT_EQ(error(), "");
  ASSERT_EQ(bnbrt_kernel_stats_count(), 2u);
  bnbrt_kernel_stats first = stats(0), second = stats(1);
  // Order of first launch.
  EXPECT_STREQ(first.name, "scale");
  EXPECT_EQ(first.launches, 4u);
  EXPECT_DOUBLE_EQ(first.total_ms, 4 * 0.25);
  EXPECT_STREQ(second.name, "gemm");
  EXPECT_EQ(second.launches, 2u);
  EXPECT_DOUBLE_EQ(second.total_ms, 2 * 1.5);
  bnbrt_kernel_stats none;
  EXPECT_EQ(bnbrt_get_kernel_stats(2, &none), -1);
  // Two timing events per launch, reused from a pool once collected.
  EXPECT_EQ(fake().eventRecordCalls, 12);
  EXPECT_LE(fake().eventCreateCalls, 12);
}

TEST_F(ProfilingTest, EventsAreRecycledAfterCollection) {
  bnbrt_set_profiling(1);
  launch("scale", 1);
  bnbrt_kernel_stats_count();
  int created = fake().eventCreateCalls;
  EXPECT_EQ(created, 2);
  launch("scale", 1);
  bnbrt_kernel_stats_count();
  EXPECT_EQ(fake().eventCreateCalls, created);
}

TEST_F(ProfilingTest, NothingIsTimedWhileDisabled) {
  launch("scale", 3);
  EXPECT_EQ(bnbrt_kernel_stats_count(), 0u);
  EXPECT_EQ(fake().eventCreateCalls, 0);
  EXPECT_EQ(fake().launches.size(), 3u);
}

TEST_F(ProfilingTest, ReportListsTheSlowestKernelFirst) {
  bnbrt_set_profiling(1);
  launch("scale", 2);
  launch("gemm", 1);
  char buf[1024] = {};
  FILE *out = fmemopen(buf, sizeof(buf) - 1, "w");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(bnbrt_kernel_report(out), 2u);
  std::fclose(out);
  std::string text(buf);
  size_t gemm = text.find("gemm"), scale = text.find("scale");
  ASSERT_NE(gemm, std::string::npos) << text;
  ASSERT_NE(scale, std::string::npos) << text;
  EXPECT_LT(gemm, scale) << text;
  EXPECT_NE(text.find("1.500"), std::string::npos) << text;
  EXPECT_NE(text.find("0.500"), std::string::npos) << text;
}

TEST_F(ProfilingTest, ResetForgetsTheStatistics) {
  bnbrt_set_profiling(1);
  launch("gemm", 2);
  bnbrt_reset_kernel_stats();
  EXPECT_EQ(bnbrt_kernel_stats_count(), 0u);
  launch("scale", 1);
  ASSERT_EQ(bnbrt_kernel_stats_count(), 1u);
  EXPECT_STREQ(stats(0).name, "scale");
  EXPECT_EQ(stats(0).launches, 1u);
}

TEST_F(ProfilingTest, FailedLaunchesAreNotCounted) {
  bnbrt_set_profiling(1);
  launch("scale", 1);
  fake().launchResult = 719;
  launch("scale", 1);
  EXPECT_NE(error().find("cuLaunchKernel(scale"), std::string::npos);
  ASSERT_EQ(bnbrt_kernel_stats_count(), 1u);
  EXPECT_EQ(stats(0).launches, 1u);
  EXPECT_DOUBLE_EQ(stats(0).total_ms, 0.25);
}

} // namespace
