//===- DriverLoadTest.cpp - no driver, no device, missing symbols ---------===//

#include "FakeDriver.h"

#include <cstdlib>
#include <fstream>

using namespace bnb::test;

namespace {

std::string error() {
  const char *e = bnbrt_last_error();
  return e ? e : "";
}

bool startsWith(const std::string &s, const std::string &prefix) {
  return s.rfind(prefix, 0) == 0;
}

/// Runs with the real dlopen path, restoring the defaults afterwards.
class DriverLoadTest : public ::testing::Test {
protected:
  void SetUp() override {
    unsetenv("BNB_CUDA_DRIVER");
    bnbrt_set_driver_table(nullptr);
    bnbrt_set_driver_path(nullptr);
    bnbrt_reset();
  }
  void TearDown() override {
    unsetenv("BNB_CUDA_DRIVER");
    bnbrt_set_driver_path(nullptr);
    bnbrt_reset();
  }

  /// Every entry point compiled code may call first, with what it returns.
  static void runLikeCompiledCode() {
    char image[] = "fake:k";
    void *module = mgpuModuleLoadJIT(image, 2);
    EXPECT_EQ(module, nullptr);
    void *fn = mgpuModuleGetFunction(module, "k");
    EXPECT_EQ(fn, nullptr);
    void *stream = mgpuStreamCreate();
    EXPECT_EQ(stream, nullptr);
    void *buf = mgpuMemAlloc(1024, stream, 0);
    EXPECT_EQ(buf, nullptr);
    float host[4] = {};
    mgpuMemcpy(buf, host, sizeof(host), stream);
    mgpuMemset32(buf, 0, 4, stream);
    void *params[] = {&buf};
    mgpuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, stream, params, nullptr, 1);
    mgpuMemFree(buf, stream);
    mgpuStreamSynchronize(stream);
    mgpuStreamDestroy(stream);
    mgpuModuleUnload(module);
    EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  }
};

TEST_F(DriverLoadTest, MissingDriverLibraryIsACleanErrorAtFirstUse) {
  bnbrt_set_driver_path("/nonexistent/libcuda.so.1");
  EXPECT_EQ(error(), ""); // nothing happens before first use
  runLikeCompiledCode();
  std::string e = error();
  EXPECT_TRUE(startsWith(e, "no CUDA driver: /nonexistent/libcuda.so.1 could "
                            "not be loaded (/nonexistent/libcuda.so.1: "))
      << e;
  EXPECT_EQ(bnbrt_alloc(16, BNBRT_CATEGORY_WEIGHTS), nullptr);
  EXPECT_EQ(bnbrt_memcpy_h2d(nullptr, nullptr, 16), -1);
  EXPECT_EQ(error(), e);
}

TEST_F(DriverLoadTest, DriverPathComesFromTheEnvironment) {
  setenv("BNB_CUDA_DRIVER", "/nonexistent/from-env/libcuda.so", 1);
  bnbrt_reset();
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_TRUE(startsWith(error(), "no CUDA driver: "
                                  "/nonexistent/from-env/libcuda.so could not "
                                  "be loaded ("))
      << error();
}

TEST_F(DriverLoadTest, ProbingDoesNotRecordAnError) {
  bnbrt_set_driver_path("/nonexistent/libcuda.so.1");
  char why[512];
  EXPECT_EQ(bnbrt_cuda_available(why, sizeof(why)), 0);
  EXPECT_TRUE(startsWith(why, "no CUDA driver: /nonexistent/libcuda.so.1"))
      << why;
  EXPECT_EQ(error(), "");
  EXPECT_EQ(bnbrt_cuda_available(nullptr, 0), 0);
  EXPECT_EQ(bnbrt_device_count(), -1);
  EXPECT_TRUE(startsWith(error(), "no CUDA driver: ")) << error();
  bnbrt_device_info info;
  bnbrt_clear_error();
  EXPECT_EQ(bnbrt_get_device_info(&info), -1);
  EXPECT_TRUE(startsWith(error(), "no CUDA driver: ")) << error();
}

TEST_F(DriverLoadTest, LibraryWithoutTheDriverApiIsNamed) {
  // libm loads but exports none of the driver API.
  bnbrt_set_driver_path("libm.so.6");
  runLikeCompiledCode();
  EXPECT_EQ(error(), "no CUDA driver: libm.so.6 does not provide cuInit");
}

TEST_F(DriverLoadTest, StubDriverReportsNoDevice) {
  const char *stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  if (!std::ifstream(stub).good())
    GTEST_SKIP() << "no CUDA toolkit stub library at " << stub;
  bnbrt_set_driver_path(stub);
  runLikeCompiledCode();
  // The toolkit's link stub exports every symbol but refuses to initialize.
  EXPECT_EQ(error(), "no CUDA device: cuInit failed: CUDA_ERROR_STUB_LIBRARY");
}

class FakeDriverLoadTest : public FakeDriverTest {};

TEST_F(FakeDriverLoadTest, NoDeviceFromCuInit) {
  fake().initResult = 100;
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_EQ(error(), "no CUDA device: cuInit failed: CUDA_ERROR_NO_DEVICE (no "
                     "CUDA-capable device is detected)");
  // The failure is cached: the driver is not asked again.
  bnbrt_clear_error();
  EXPECT_EQ(mgpuMemAlloc(8, nullptr, 0), nullptr);
  EXPECT_EQ(fake().initCalls, 1);
  EXPECT_NE(error(), "");
}

TEST_F(FakeDriverLoadTest, NoDeviceFromACountOfZero) {
  fake().deviceCount = 0;
  char why[256];
  EXPECT_EQ(bnbrt_cuda_available(why, sizeof(why)), 0);
  EXPECT_STREQ(why, "no CUDA device: the driver reports 0 devices");
  EXPECT_EQ(error(), "");
  EXPECT_EQ(mgpuMemAlloc(8, nullptr, 0), nullptr);
  EXPECT_EQ(error(), "no CUDA device: the driver reports 0 devices");
}

TEST_F(FakeDriverLoadTest, TableMissingARequiredEntryIsRejected) {
  bnbrt_driver_table table = fakeDriverTable();
  table.cuMemAlloc_v2 = nullptr;
  install(table);
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_EQ(error(), "no CUDA driver: the installed driver table does not "
                     "provide cuMemAlloc_v2");
}

TEST_F(FakeDriverLoadTest, DeviceInfoComesFromTheDriver) {
  char why[64] = "unchanged";
  EXPECT_EQ(bnbrt_cuda_available(why, sizeof(why)), 1);
  EXPECT_STREQ(why, "unchanged");
  EXPECT_EQ(bnbrt_device_count(), 1);
  bnbrt_device_info info;
  ASSERT_EQ(bnbrt_get_device_info(&info), 0) << error();
  EXPECT_EQ(info.ordinal, 0);
  EXPECT_STREQ(info.name, "Fake GPU 0");
  EXPECT_EQ(info.sm_major, 9);
  EXPECT_EQ(info.sm_minor, 0);
  EXPECT_EQ(info.multiprocessor_count, 132);
  EXPECT_EQ(info.total_memory_bytes, uint64_t(80) << 30);
  EXPECT_EQ(info.free_memory_bytes, uint64_t(79) << 30);
  EXPECT_EQ(info.driver_version, 13000);
}

TEST_F(FakeDriverLoadTest, DeviceSelection) {
  fake().deviceCount = 3;
  EXPECT_EQ(bnbrt_set_device(-1), -1);
  EXPECT_EQ(bnbrt_set_device(2), 0);
  EXPECT_EQ(bnbrt_get_device(), 2);
  bnbrt_device_info info;
  ASSERT_EQ(bnbrt_get_device_info(&info), 0) << error();
  EXPECT_EQ(info.ordinal, 2);
  EXPECT_STREQ(info.name, "Fake GPU 2");
  bnbrt_reset();
  EXPECT_EQ(bnbrt_get_device(), 0);
}

TEST(RuntimeVersionTest, AbiVersionAndVersionString) {
  EXPECT_EQ(bnbrt_abi_version(), BNBRT_ABI_VERSION);
  EXPECT_STRNE(bnbrt_version(), "");
  EXPECT_STRNE(bnbrt_version(), "unknown");
}

} // namespace
