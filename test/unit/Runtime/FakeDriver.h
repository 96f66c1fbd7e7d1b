//===- FakeDriver.h - an in-process stand-in for libcuda --------*- C++ -*-===//
//
// A driver table whose entry points work on host memory and record what they
// were asked to do, with knobs that make chosen calls fail. "Device" memory is
// plain host memory, so copies and memsets can be checked byte for byte, and
// a fake clock that launches advance gives deterministic kernel times.
//
// A module image is the text "fake:NAME,NAME,..." listing its kernels; any
// other image is rejected with CUDA_ERROR_INVALID_IMAGE.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_UNIT_RUNTIME_FAKEDRIVER_H
#define BNB_TEST_UNIT_RUNTIME_FAKEDRIVER_H

#include "bnb_runtime.h"
#include "bnb_runtime_abi.h"
#include "bnb_runtime_driver.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace bnb::test {

/// One cuLaunchKernel / cuLaunchKernelEx call as the driver saw it.
struct FakeLaunch {
  std::string kernel;
  unsigned grid[3] = {0, 0, 0};
  unsigned block[3] = {0, 0, 0};
  unsigned cluster[3] = {1, 1, 1};
  unsigned smem = 0;
  bnbrt_cu_stream stream = nullptr;
  void **params = nullptr;
  void **extra = nullptr;
  bool extended = false;
};

/// One cuTensorMapEncodeTiled call.
struct FakeTensorMapCall {
  int dataType = -1;
  unsigned rank = 0;
  void *address = nullptr;
  std::vector<uint64_t> dims, strides;
  std::vector<uint32_t> box, elementStrides;
  int interleave = -1, swizzle = -1, l2 = -1, oob = -1;
};

/// Everything the fake driver knows and counts. Reset by FakeDriverTest.
struct FakeDriverState {
  // Knobs.
  bnbrt_cu_result initResult = 0;
  int deviceCount = 1;
  int failAllocAt = 0; ///< the Nth cuMemAlloc_v2 (1-based) runs out of memory
  bnbrt_cu_result launchResult = 0;
  bnbrt_cu_result memcpyResult = 0;
  bnbrt_cu_result syncResult = 0;
  bnbrt_cu_result moduleLoadResult = 0;
  int sharedMemoryOptIn = 227 * 1024;
  std::map<std::string, double> kernelMs; ///< fake duration per kernel

  // Observations.
  int initCalls = 0;
  int allocCalls = 0;
  int managedAllocCalls = 0;
  int freeCalls = 0;
  int getFunctionCalls = 0;
  int ctxSetCurrentCalls = 0;
  int eventCreateCalls = 0;
  int eventRecordCalls = 0;
  int streamWaitCalls = 0;
  int streamSyncCalls = 0;
  int memcpyAsyncCalls = 0;
  int jitOptLevel = -1;
  unsigned lastStreamFlags = ~0u;
  unsigned lastEventFlags = ~0u;
  std::vector<int> retainedDevices;
  std::vector<std::pair<int, int>> funcAttributes; ///< (attribute, value)
  std::vector<FakeLaunch> launches;
  std::vector<std::pair<void *, size_t>> hostRegistered;
  std::vector<void *> hostUnregistered;
  std::vector<FakeTensorMapCall> tensorMaps;
  std::map<uintptr_t, size_t> liveBlocks; ///< fake device allocations
  int liveStreams = 0;
  int liveEvents = 0;
  int liveModules = 0;
  double clockMs = 0; ///< advanced by each launch
};

/// The state of the fake driver (one per process).
FakeDriverState &fake();

/// Returns a table of the fake entry points, every field filled.
bnbrt_driver_table fakeDriverTable();

/// Fixture: resets the runtime and the fake state and installs the fake
/// table; on teardown resets the runtime again and restores libcuda.
class FakeDriverTest : public ::testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  /// Installs `table` instead of the default fake table.
  void install(const bnbrt_driver_table &table);

  /// The recorded error, or "" when there is none.
  static std::string error() {
    const char *e = bnbrt_last_error();
    return e ? e : "";
  }
};

} // namespace bnb::test

#endif // BNB_TEST_UNIT_RUNTIME_FAKEDRIVER_H
