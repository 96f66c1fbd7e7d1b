//===- FakeCudaLibrary.cpp - the fake driver as a stand-in libcuda --------===//
//
// Exports the fake driver's entry points (FakeCuda.h) under the names
// libbnb_runtime resolves from libcuda (runtime/lib/DriverSymbols.def), so
// that bnb-run and bnb-gpu-bench can run their GPU paths on a machine without
// a GPU: BNB_CUDA_DRIVER=<this library>. Any module image loads, every kernel
// name resolves, launches run nothing and each timed interval reads 0.5 ms;
// cuFuncGetAttribute reports a kernel's first launch's block size as its
// maximum.
// Failures are injected through the environment, read when the library is
// loaded:
//
//   FAKE_CUDA_INIT_ERROR=N     cuInit returns N (100: no device)
//   FAKE_CUDA_DEVICES=N        cuDeviceGetCount reports N devices (default 1)
//   FAKE_CUDA_FAIL_ALLOC_AT=N  the Nth cuMemAlloc_v2 is out of memory
//   FAKE_CUDA_FAIL_LAUNCH=1    every launch fails (CUDA_ERROR_LAUNCH_FAILED)
//   FAKE_CUDA_FAIL_MODULE=1    module loads fail (CUDA_ERROR_INVALID_IMAGE)
//
// FAKE_CUDA_COUNTS=1 prints at exit the device allocations, the copies into
// device memory from host memory (through any copy entry point), the device
// frees and the context synchronizations, so tests can tell what the
// compiled code and the runtime ask of the driver per call.
//
//===----------------------------------------------------------------------===//

#include "FakeCuda.h"

#include <cstdio>
#include <cstdlib>

using namespace bnb::test;

namespace {

long env(const char *name, long fallback) {
  const char *value = std::getenv(name);
  return value && *value ? std::strtol(value, nullptr, 10) : fallback;
}

/// Configures the fake from the environment when the library loads and
/// reports the counts when it is unloaded (at exit).
struct Setup {
  bnbrt_driver_table table;

  Setup() {
    FakeDriverState &state = fake();
    state.acceptAnyImage = true;
    state.deviceName = "Fake CUDA Device";
    state.driverVersion = 12080;
    state.fixedElapsedMs = 0.5;
    state.initResult = static_cast<bnbrt_cu_result>(env("FAKE_CUDA_INIT_ERROR", 0));
    state.deviceCount = static_cast<int>(env("FAKE_CUDA_DEVICES", 1));
    state.failAllocAt = static_cast<int>(env("FAKE_CUDA_FAIL_ALLOC_AT", 0));
    if (env("FAKE_CUDA_FAIL_LAUNCH", 0))
      state.launchResult = 719;
    if (env("FAKE_CUDA_FAIL_MODULE", 0))
      state.moduleLoadResult = 200;
    table = fakeDriverTable();
  }

  ~Setup() {
    if (!env("FAKE_CUDA_COUNTS", 0))
      return;
    const FakeDriverState &state = fake();
    std::fprintf(stderr,
                 "fake-cuda: %d device allocations, %ld host-to-device "
                 "copies (%llu bytes)\n",
                 state.allocCalls + state.managedAllocCalls, state.uploads,
                 state.uploadedBytes);
    std::fprintf(stderr,
                 "fake-cuda: %d device frees, %d context synchronizations\n",
                 state.freeCalls, state.ctxSyncCalls);
  }
};
Setup setup;

} // namespace

// Each export forwards to the table entry of the same name.
#define FORWARD(name, params, args)                                           \
  extern "C" __attribute__((visibility("default"))) bnbrt_cu_result name      \
      params {                                                                \
    return setup.table.name args;                                             \
  }

FORWARD(cuInit, (unsigned flags), (flags))

// Not in the runtime's table: only bnb-gpu-bench asks for it.
extern "C" __attribute__((visibility("default"))) bnbrt_cu_result
cuFuncGetAttribute(int *value, int attribute, bnbrt_cu_function function) {
  return fakeFuncGetAttribute(value, attribute, function);
}
FORWARD(cuDriverGetVersion, (int *version), (version))
FORWARD(cuGetErrorName, (bnbrt_cu_result error, const char **name),
        (error, name))
FORWARD(cuGetErrorString, (bnbrt_cu_result error, const char **text),
        (error, text))
FORWARD(cuDeviceGetCount, (int *count), (count))
FORWARD(cuDeviceGet, (bnbrt_cu_device * device, int ordinal),
        (device, ordinal))
FORWARD(cuDeviceGetName, (char *name, int length, bnbrt_cu_device device),
        (name, length, device))
FORWARD(cuDeviceGetAttribute,
        (int *value, bnbrt_cu_device_attribute attribute,
         bnbrt_cu_device device),
        (value, attribute, device))
FORWARD(cuDeviceTotalMem_v2, (size_t * bytes, bnbrt_cu_device device),
        (bytes, device))
FORWARD(cuDevicePrimaryCtxRetain,
        (bnbrt_cu_context * context, bnbrt_cu_device device),
        (context, device))
FORWARD(cuDevicePrimaryCtxRelease_v2, (bnbrt_cu_device device), (device))
FORWARD(cuCtxGetCurrent, (bnbrt_cu_context * context), (context))
FORWARD(cuCtxSetCurrent, (bnbrt_cu_context context), (context))
FORWARD(cuCtxSynchronize, (), ())
FORWARD(cuMemGetInfo_v2, (size_t * freeBytes, size_t *totalBytes),
        (freeBytes, totalBytes))
FORWARD(cuModuleLoadData, (bnbrt_cu_module * module, const void *image),
        (module, image))
FORWARD(cuModuleLoadDataEx,
        (bnbrt_cu_module * module, const void *image, unsigned count,
         bnbrt_cu_jit_option *options, void **values),
        (module, image, count, options, values))
FORWARD(cuModuleUnload, (bnbrt_cu_module module), (module))
FORWARD(cuModuleGetFunction,
        (bnbrt_cu_function * function, bnbrt_cu_module module,
         const char *name),
        (function, module, name))
FORWARD(cuFuncSetAttribute,
        (bnbrt_cu_function function, bnbrt_cu_function_attribute attribute,
         int value),
        (function, attribute, value))
FORWARD(cuLaunchKernel,
        (bnbrt_cu_function function, unsigned gx, unsigned gy, unsigned gz,
         unsigned bx, unsigned by, unsigned bz, unsigned smem,
         bnbrt_cu_stream stream, void **params, void **extra),
        (function, gx, gy, gz, bx, by, bz, smem, stream, params, extra))
FORWARD(cuMemAlloc_v2, (bnbrt_cu_deviceptr * ptr, size_t bytes), (ptr, bytes))
FORWARD(cuMemAllocManaged,
        (bnbrt_cu_deviceptr * ptr, size_t bytes, unsigned flags),
        (ptr, bytes, flags))
FORWARD(cuMemFree_v2, (bnbrt_cu_deviceptr ptr), (ptr))
FORWARD(cuMemcpyAsync,
        (bnbrt_cu_deviceptr dst, bnbrt_cu_deviceptr src, size_t bytes,
         bnbrt_cu_stream stream),
        (dst, src, bytes, stream))
FORWARD(cuMemcpyHtoD_v2,
        (bnbrt_cu_deviceptr dst, const void *src, size_t bytes),
        (dst, src, bytes))
FORWARD(cuMemcpyDtoH_v2, (void *dst, bnbrt_cu_deviceptr src, size_t bytes),
        (dst, src, bytes))
FORWARD(cuMemcpyDtoD_v2,
        (bnbrt_cu_deviceptr dst, bnbrt_cu_deviceptr src, size_t bytes),
        (dst, src, bytes))
FORWARD(cuMemsetD8_v2,
        (bnbrt_cu_deviceptr dst, unsigned char value, size_t count),
        (dst, value, count))
FORWARD(cuMemsetD16Async,
        (bnbrt_cu_deviceptr dst, unsigned short value, size_t count,
         bnbrt_cu_stream stream),
        (dst, value, count, stream))
FORWARD(cuMemsetD32Async,
        (bnbrt_cu_deviceptr dst, unsigned value, size_t count,
         bnbrt_cu_stream stream),
        (dst, value, count, stream))
FORWARD(cuMemHostRegister_v2, (void *ptr, size_t bytes, unsigned flags),
        (ptr, bytes, flags))
FORWARD(cuMemHostUnregister, (void *ptr), (ptr))
FORWARD(cuStreamCreate, (bnbrt_cu_stream * stream, unsigned flags),
        (stream, flags))
FORWARD(cuStreamDestroy_v2, (bnbrt_cu_stream stream), (stream))
FORWARD(cuStreamSynchronize, (bnbrt_cu_stream stream), (stream))
FORWARD(cuStreamWaitEvent,
        (bnbrt_cu_stream stream, bnbrt_cu_event event, unsigned flags),
        (stream, event, flags))
FORWARD(cuEventCreate, (bnbrt_cu_event * event, unsigned flags),
        (event, flags))
FORWARD(cuEventDestroy_v2, (bnbrt_cu_event event), (event))
FORWARD(cuEventRecord, (bnbrt_cu_event event, bnbrt_cu_stream stream),
        (event, stream))
FORWARD(cuEventSynchronize, (bnbrt_cu_event event), (event))
FORWARD(cuEventElapsedTime,
        (float *ms, bnbrt_cu_event start, bnbrt_cu_event end),
        (ms, start, end))
