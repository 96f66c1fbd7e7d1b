//===- GpuAbiTest.cpp - the mgpu* functions on the fake driver ------------===//

#include "FakeDriver.h"

#include <thread>

using namespace bnb::test;

namespace {

class GpuAbiTest : public FakeDriverTest {};

TEST_F(GpuAbiTest, LoadLookupAndLaunchPassParametersThrough) {
  char image[] = "fake:scale,add";
  void *module = mgpuModuleLoad(image, sizeof(image));
  ASSERT_NE(module, nullptr) << error();
  void *fn = mgpuModuleGetFunction(module, "scale");
  ASSERT_NE(fn, nullptr) << error();

  void *stream = mgpuStreamCreate();
  float factor = 2.5f;
  int64_t n = 1000;
  void *params[] = {&factor, &n};
  mgpuLaunchKernel(fn, 4, 2, 1, 128, 1, 1, 256, stream, params, nullptr, 2);
  ASSERT_EQ(error(), "");

  ASSERT_EQ(fake().launches.size(), 1u);
  const FakeLaunch &l = fake().launches[0];
  EXPECT_EQ(l.kernel, "scale");
  EXPECT_EQ(l.grid[0], 4u);
  EXPECT_EQ(l.grid[1], 2u);
  EXPECT_EQ(l.grid[2], 1u);
  EXPECT_EQ(l.block[0], 128u);
  EXPECT_EQ(l.block[1], 1u);
  EXPECT_EQ(l.smem, 256u);
  EXPECT_EQ(static_cast<void *>(l.stream), stream);
  ASSERT_EQ(l.params, params);
  EXPECT_EQ(*static_cast<float *>(l.params[0]), 2.5f);
  EXPECT_EQ(*static_cast<int64_t *>(l.params[1]), 1000);
  EXPECT_EQ(l.extra, nullptr);
  // Small shared memory needs no opt-in.
  EXPECT_TRUE(fake().funcAttributes.empty());

  mgpuStreamDestroy(stream);
  mgpuModuleUnload(module);
  EXPECT_EQ(fake().liveStreams, 0);
  EXPECT_EQ(fake().liveModules, 0);
  EXPECT_EQ(error(), "");
}

TEST_F(GpuAbiTest, FunctionLookupsAreCachedPerModuleAndName) {
  char image[] = "fake:scale,add";
  void *module = mgpuModuleLoad(image, sizeof(image));
  void *a = mgpuModuleGetFunction(module, "scale");
  void *b = mgpuModuleGetFunction(module, "scale");
  std::string name = "scale"; // same text, different address
  void *c = mgpuModuleGetFunction(module, name.c_str());
  void *d = mgpuModuleGetFunction(module, "add");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_NE(a, d);
  // "scale" by literal once, by std::string once, "add" once.
  EXPECT_EQ(fake().getFunctionCalls, 3);
  mgpuModuleUnload(module);
  // A module loaded later must not see the old module's cache.
  void *module2 = mgpuModuleLoad(image, sizeof(image));
  EXPECT_NE(mgpuModuleGetFunction(module2, "scale"), nullptr);
  EXPECT_EQ(fake().getFunctionCalls, 4);
  mgpuModuleUnload(module2);
}

TEST_F(GpuAbiTest, JitLoadPassesTheOptimizationLevel) {
  char ptx[] = "fake:kernel";
  void *module = mgpuModuleLoadJIT(ptx, 3);
  ASSERT_NE(module, nullptr) << error();
  EXPECT_EQ(fake().jitOptLevel, 3);
  mgpuModuleUnload(module);
}

TEST_F(GpuAbiTest, JitFailureReportsTheFirstLineOfTheLog) {
  fake().moduleLoadResult = 218;
  char ptx[] = "fake:kernel";
  EXPECT_EQ(mgpuModuleLoadJIT(ptx, 2), nullptr);
  EXPECT_EQ(error(), "cuModuleLoadDataEx(PTX, -O2) failed: "
                     "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed): "
                     "ptxas fatal   : fake syntax error on line 3");
}

TEST_F(GpuAbiTest, BadImageMakesLaterLookupsAndLaunchesNoOps) {
  char image[] = "not a cubin";
  void *module = mgpuModuleLoad(image, sizeof(image));
  EXPECT_EQ(module, nullptr);
  EXPECT_EQ(error(), "cuModuleLoadData(12-byte image) failed: "
                     "CUDA_ERROR_INVALID_IMAGE (device kernel image is "
                     "invalid)");
  // What compiled code does next: look up and launch with what it got.
  void *fn = mgpuModuleGetFunction(module, "scale");
  EXPECT_EQ(fn, nullptr);
  mgpuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  mgpuModuleUnload(module);
  EXPECT_TRUE(fake().launches.empty());
  EXPECT_EQ(fake().getFunctionCalls, 0);
  // The first error stays.
  EXPECT_NE(error().find("cuModuleLoadData"), std::string::npos);
}

TEST_F(GpuAbiTest, UnknownKernelNamesTheLookup) {
  char image[] = "fake:scale";
  void *module = mgpuModuleLoad(image, sizeof(image));
  EXPECT_EQ(mgpuModuleGetFunction(module, "missing"), nullptr);
  EXPECT_EQ(error(), "cuModuleGetFunction(missing) failed: "
                     "CUDA_ERROR_NOT_FOUND (named symbol not found)");
  bnbrt_clear_error();
  mgpuModuleUnload(module);
  EXPECT_EQ(error(), "");
}

TEST_F(GpuAbiTest, LaunchFailureNamesCuLaunchKernelAndIsSticky) {
  char image[] = "fake:scale";
  void *module = mgpuModuleLoad(image, sizeof(image));
  void *fn = mgpuModuleGetFunction(module, "scale");
  fake().launchResult = 719;
  mgpuLaunchKernel(fn, 2, 1, 1, 64, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(error(), "cuLaunchKernel(scale, grid 2x1x1, block 64x1x1, smem 0 "
                     "bytes) failed: CUDA_ERROR_LAUNCH_FAILED (unspecified "
                     "launch failure)");
  // Later work is skipped; the driver sees no second launch, copy or alloc.
  fake().launchResult = 0;
  mgpuLaunchKernel(fn, 2, 1, 1, 64, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, 0), nullptr);
  char a[4], b[4];
  mgpuMemcpy(a, b, 4, nullptr);
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_EQ(mgpuEventCreate(), nullptr);
  EXPECT_EQ(fake().launches.size(), 1u);
  EXPECT_EQ(fake().allocCalls, 0);
  EXPECT_EQ(fake().memcpyAsyncCalls, 0);
  EXPECT_EQ(fake().liveStreams, 0);
  // Clearing the error resumes work.
  bnbrt_clear_error();
  mgpuLaunchKernel(fn, 2, 1, 1, 64, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(fake().launches.size(), 2u);
  EXPECT_EQ(error(), "");
  mgpuModuleUnload(module);
}

TEST_F(GpuAbiTest, LaunchDimensionsOutOfRangeAreRejected) {
  char image[] = "fake:scale";
  void *module = mgpuModuleLoad(image, sizeof(image));
  void *fn = mgpuModuleGetFunction(module, "scale");
  mgpuLaunchKernel(fn, intptr_t(1) << 33, 1, 1, 1, 1, 1, 0, nullptr, nullptr,
                   nullptr, 0);
  EXPECT_EQ(error(),
            "mgpuLaunchKernel(scale): launch dimension 8589934592 out of range");
  EXPECT_TRUE(fake().launches.empty());
  bnbrt_clear_error();
  mgpuLaunchKernel(fn, 1, 1, 1, 0, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(error(), "mgpuLaunchKernel(scale): launch dimension 0 out of range");
  mgpuModuleUnload(module);
}

TEST_F(GpuAbiTest, LargeDynamicSharedMemoryIsOptedInOncePerKernel) {
  char image[] = "fake:gemm";
  void *module = mgpuModuleLoad(image, sizeof(image));
  void *fn = mgpuModuleGetFunction(module, "gemm");
  mgpuLaunchKernel(fn, 1, 1, 1, 128, 1, 1, 100000, nullptr, nullptr, nullptr,
                   0);
  mgpuLaunchKernel(fn, 1, 1, 1, 128, 1, 1, 100000, nullptr, nullptr, nullptr,
                   0);
  mgpuLaunchKernel(fn, 1, 1, 1, 128, 1, 1, 90000, nullptr, nullptr, nullptr,
                   0);
  ASSERT_EQ(error(), "");
  ASSERT_EQ(fake().funcAttributes.size(), 1u);
  EXPECT_EQ(fake().funcAttributes[0].first,
            BNBRT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
  EXPECT_EQ(fake().funcAttributes[0].second, 100000);
  EXPECT_EQ(fake().launches.size(), 3u);

  mgpuLaunchKernel(fn, 1, 1, 1, 128, 1, 1, 300000, nullptr, nullptr, nullptr,
                   0);
  EXPECT_EQ(error(), "mgpuLaunchKernel(gemm): 300000 bytes of dynamic shared "
                     "memory exceed the device limit of 232448 bytes");
  EXPECT_EQ(fake().launches.size(), 3u);
  mgpuModuleUnload(module);
}

TEST_F(GpuAbiTest, StreamsAndEventsMapToTheDriver) {
  void *s1 = mgpuStreamCreate();
  EXPECT_EQ(fake().lastStreamFlags, unsigned(BNBRT_CU_STREAM_NON_BLOCKING));
  void *s2 = mgpuStreamCreate();
  void *e = mgpuEventCreate();
  EXPECT_EQ(fake().lastEventFlags, unsigned(BNBRT_CU_EVENT_DISABLE_TIMING));
  mgpuEventRecord(e, s1);
  mgpuStreamWaitEvent(s2, e);
  mgpuEventSynchronize(e);
  mgpuStreamSynchronize(s2);
  mgpuEventDestroy(e);
  mgpuStreamDestroy(s1);
  mgpuStreamDestroy(s2);
  EXPECT_EQ(error(), "");
  EXPECT_EQ(fake().eventRecordCalls, 1);
  EXPECT_EQ(fake().streamWaitCalls, 1);
  EXPECT_EQ(fake().streamSyncCalls, 1);
  EXPECT_EQ(fake().liveEvents, 0);
  EXPECT_EQ(fake().liveStreams, 0);
}

TEST_F(GpuAbiTest, WaitingOnAnUnrecordedEventNamesTheCall) {
  void *s = mgpuStreamCreate();
  void *e = mgpuEventCreate();
  mgpuStreamWaitEvent(s, e);
  EXPECT_EQ(error(), "cuStreamWaitEvent failed: CUDA_ERROR_INVALID_HANDLE "
                     "(invalid resource handle)");
  // Destroys still run while the error is recorded.
  mgpuEventDestroy(e);
  mgpuStreamDestroy(s);
  EXPECT_EQ(fake().liveEvents, 0);
  EXPECT_EQ(fake().liveStreams, 0);
}

TEST_F(GpuAbiTest, AsynchronousFaultNamesTheLastKernel) {
  char image[] = "fake:scale,reduce";
  void *module = mgpuModuleLoad(image, sizeof(image));
  mgpuLaunchKernel(mgpuModuleGetFunction(module, "scale"), 1, 1, 1, 1, 1, 1, 0,
                   nullptr, nullptr, nullptr, 0);
  mgpuLaunchKernel(mgpuModuleGetFunction(module, "reduce"), 1, 1, 1, 1, 1, 1,
                   0, nullptr, nullptr, nullptr, 0);
  fake().syncResult = 700;
  mgpuStreamSynchronize(nullptr);
  EXPECT_EQ(error(), "cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS "
                     "(an illegal memory access was encountered) (last kernel "
                     "launched: reduce)");
  mgpuModuleUnload(module);
}

TEST_F(GpuAbiTest, MemsetAndMemcpyMoveTheRightBytes) {
  const size_t n = 37;
  void *d32 = mgpuMemAlloc(n * 4, nullptr, 0);
  void *d16 = mgpuMemAlloc(n * 2, nullptr, 0);
  ASSERT_NE(d32, nullptr);
  ASSERT_NE(d16, nullptr);
  mgpuMemset32(d32, 0x3f800000u, n, nullptr); // 1.0f
  mgpuMemset16(d16, 0x3c00u, n, nullptr);     // 1.0 in f16
  std::vector<float> h32(n + 1, -1.0f);
  std::vector<uint16_t> h16(n + 1, 0xffff);
  mgpuMemcpy(h32.data(), d32, n * 4, nullptr);
  mgpuMemcpy(h16.data(), d16, n * 2, nullptr);
  ASSERT_EQ(error(), "");
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(h32[i], 1.0f) << i;
    EXPECT_EQ(h16[i], 0x3c00) << i;
  }
  // Exactly `count` words were written and `bytes` bytes copied.
  EXPECT_EQ(h32[n], -1.0f);
  EXPECT_EQ(h16[n], 0xffff);
  mgpuMemFree(d32, nullptr);
  mgpuMemFree(d16, nullptr);
  EXPECT_TRUE(fake().liveBlocks.empty());
}

TEST_F(GpuAbiTest, CopyFailureNamesCuMemcpyAsync) {
  void *d = mgpuMemAlloc(16, nullptr, 0);
  fake().memcpyResult = 1;
  char host[16] = {};
  mgpuMemcpy(d, host, 16, nullptr);
  std::string e = error();
  EXPECT_EQ(e.rfind("cuMemcpyAsync(", 0), 0u) << e;
  EXPECT_NE(e.find(", 16 bytes) failed: CUDA_ERROR_INVALID_VALUE (invalid "
                   "argument)"),
            std::string::npos)
      << e;
  mgpuMemFree(d, nullptr);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
}

TEST_F(GpuAbiTest, DefaultDeviceSelectsThePrimaryContext) {
  fake().deviceCount = 2;
  mgpuSetDefaultDevice(1);
  void *s = mgpuStreamCreate();
  ASSERT_NE(s, nullptr) << error();
  ASSERT_EQ(fake().retainedDevices, std::vector<int>{1});
  mgpuStreamDestroy(s);

  mgpuSetDefaultDevice(5);
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_EQ(error(), "no CUDA device: device 5 selected but the driver "
                     "reports 2 device(s)");
}

TEST_F(GpuAbiTest, EveryThreadGetsTheContextMadeCurrent) {
  void *s = mgpuStreamCreate();
  int before = fake().ctxSetCurrentCalls;
  EXPECT_EQ(before, 1);
  mgpuStreamSynchronize(s); // same thread: already current
  EXPECT_EQ(fake().ctxSetCurrentCalls, before);
  std::thread worker([&] { mgpuStreamSynchronize(s); });
  worker.join();
  EXPECT_EQ(fake().ctxSetCurrentCalls, before + 1);
  mgpuStreamDestroy(s);
  EXPECT_EQ(error(), "");
}

/// A ranked memref descriptor of rank 2 laid out as MLIR passes it.
struct Desc2D {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
};

TEST_F(GpuAbiTest, HostRegisterUsesTheDataOfTheMemref) {
  std::vector<float> data(100);
  Desc2D d{data.data(), data.data(), 4, {8, 12}, {12, 1}};
  mgpuMemHostRegisterMemRef(2, &d, sizeof(float));
  mgpuMemHostUnregisterMemRef(2, &d, sizeof(float));
  ASSERT_EQ(error(), "");
  ASSERT_EQ(fake().hostRegistered.size(), 1u);
  EXPECT_EQ(fake().hostRegistered[0].first, data.data() + 4);
  EXPECT_EQ(fake().hostRegistered[0].second, 8u * 12u * sizeof(float));
  ASSERT_EQ(fake().hostUnregistered.size(), 1u);
  EXPECT_EQ(fake().hostUnregistered[0], data.data() + 4);

  Desc2D strided{data.data(), data.data(), 0, {8, 6}, {12, 2}};
  mgpuMemHostRegisterMemRef(2, &strided, sizeof(float));
  EXPECT_EQ(error(), "mgpuMemHostRegisterMemRef: only contiguous memrefs can "
                     "be registered");
  EXPECT_EQ(fake().hostRegistered.size(), 1u);
}

} // namespace
