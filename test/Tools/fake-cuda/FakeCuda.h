//===- FakeCuda.h - a stand-in CUDA driver on host memory -------*- C++ -*-===//
//
// One fake driver for every test that must run without a GPU. Its entry
// points work on host memory and record what they were asked to do, with
// knobs that make chosen calls fail. "Device" memory is zero-filled host
// memory, so copies and memsets can be checked byte for byte, and a fake
// clock that launches advance gives deterministic kernel times.
//
// It is used in two ways:
//   - in process: the runtime unit tests link it and install
//     fakeDriverTable() with bnbrt_set_driver_table;
//   - as libfakecuda.so, which exports the same entry points under libcuda's
//     names (FakeCudaLibrary.cpp) for BNB_CUDA_DRIVER, configured through
//     the environment.
//
// A module image is the text "fake:NAME,NAME,..." listing its kernels; any
// other image is rejected with CUDA_ERROR_INVALID_IMAGE unless
// acceptAnyImage is set, in which case every kernel name resolves.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_TOOLS_FAKECUDA_FAKECUDA_H
#define BNB_TEST_TOOLS_FAKECUDA_FAKECUDA_H

#include "bnb_runtime_driver.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace bnb::test {

/// One cuLaunchKernel call as the driver saw it.
struct FakeLaunch {
  std::string kernel;
  unsigned grid[3] = {0, 0, 0};
  unsigned block[3] = {0, 0, 0};
  unsigned smem = 0;
  bnbrt_cu_stream stream = nullptr;
  void **params = nullptr;
  void **extra = nullptr;
};

/// Everything the fake driver knows and counts.
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
  int driverVersion = 13000;
  /// Device name; "Fake GPU <ordinal>" when empty.
  std::string deviceName;
  /// Loads any image, in which every kernel name resolves.
  bool acceptAnyImage = false;
  /// When >= 0, every elapsed-time query returns this instead of reading
  /// the fake clock.
  double fixedElapsedMs = -1;
  std::map<std::string, double> kernelMs; ///< fake duration per kernel

  // Observations.
  int initCalls = 0;
  int allocCalls = 0; ///< cuMemAlloc_v2 calls, failed ones included
  int managedAllocCalls = 0;
  int freeCalls = 0;
  int getFunctionCalls = 0;
  int ctxSetCurrentCalls = 0;
  int eventCreateCalls = 0;
  int eventRecordCalls = 0;
  int streamWaitCalls = 0;
  int streamSyncCalls = 0;
  int memcpyAsyncCalls = 0;
  int memcpyHtoDCalls = 0;
  int ctxSyncCalls = 0;
  /// Copies into fake device memory from host memory, through any entry
  /// point, and their bytes.
  long uploads = 0;
  unsigned long long uploadedBytes = 0;
  int jitOptLevel = -1;
  unsigned lastStreamFlags = ~0u;
  unsigned lastEventFlags = ~0u;
  std::vector<int> retainedDevices;
  std::vector<std::pair<int, int>> funcAttributes; ///< (attribute, value)
  std::vector<FakeLaunch> launches;
  std::vector<std::pair<void *, size_t>> hostRegistered;
  std::vector<void *> hostUnregistered;
  std::map<uintptr_t, size_t> liveBlocks; ///< fake device allocations
  int liveStreams = 0;
  int liveEvents = 0;
  int liveModules = 0;
  double clockMs = 0; ///< advanced by each launch
};

/// The state of the fake driver (one per process). Entry points that may be
/// reached from several threads (allocation, free, copies) lock
/// fakeMutex() while they touch it.
FakeDriverState &fake();

/// The lock of the allocation map and the transfer counters.
std::mutex &fakeMutex();

/// Frees the fake device memory still live and restores every knob and
/// counter to its default.
void resetFakeDriver();

/// Returns a table of the fake entry points, every field filled.
bnbrt_driver_table fakeDriverTable();

/// cuFuncGetAttribute, which the runtime does not use (bnb-gpu-bench does).
/// Only CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK (0) is answered: the fake's
/// images carry no `.maxntid`, so it reports the block size of the
/// function's first launch (the compiled code's), or 1024 before any.
bnbrt_cu_result fakeFuncGetAttribute(int *value, int attribute,
                                     bnbrt_cu_function function);

} // namespace bnb::test

#endif // BNB_TEST_TOOLS_FAKECUDA_FAKECUDA_H
