//===- FakeCuda.cpp - a stand-in libcuda for tool tests -------------------===//
//
// A shared library exporting the driver entry points libbnb_runtime resolves
// (runtime/lib/DriverSymbols.def), so that bnb-run's GPU path can be tested
// end to end on a machine without a GPU: BNB_CUDA_DRIVER=<this library>.
// "Device" memory is host memory (zero-filled), modules load any image,
// kernels are found by any name and launches do nothing. Failures are
// injected through the environment:
//
//   FAKE_CUDA_INIT_ERROR=N     cuInit returns N (100: no device)
//   FAKE_CUDA_DEVICES=N        cuDeviceGetCount reports N devices (default 1)
//   FAKE_CUDA_FAIL_ALLOC_AT=N  the Nth cuMemAlloc_v2 is out of memory
//   FAKE_CUDA_FAIL_LAUNCH=1    every launch fails (CUDA_ERROR_LAUNCH_FAILED)
//   FAKE_CUDA_FAIL_MODULE=1    module loads fail (CUDA_ERROR_INVALID_IMAGE)
//
//===----------------------------------------------------------------------===//

#include "bnb_runtime_driver.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

constexpr bnbrt_cu_result kSuccess = 0;
constexpr bnbrt_cu_result kInvalidValue = 1;
constexpr bnbrt_cu_result kOutOfMemory = 2;
constexpr bnbrt_cu_result kNoDevice = 100;
constexpr bnbrt_cu_result kInvalidImage = 200;
constexpr bnbrt_cu_result kLaunchFailed = 719;

/// The errors this driver can return, with libcuda's names and texts.
struct ErrorInfo {
  bnbrt_cu_result code;
  const char *name;
  const char *text;
};
constexpr ErrorInfo kErrors[] = {
    {kSuccess, "CUDA_SUCCESS", "no error"},
    {kInvalidValue, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {kOutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {kNoDevice, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {kInvalidImage, "CUDA_ERROR_INVALID_IMAGE",
     "device kernel image is invalid"},
    {kLaunchFailed, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
};

const ErrorInfo *lookupError(bnbrt_cu_result code) {
  for (const ErrorInfo &info : kErrors)
    if (info.code == code)
      return &info;
  return nullptr;
}

long env(const char *name, long fallback) {
  const char *value = std::getenv(name);
  return value && *value ? std::strtol(value, nullptr, 10) : fallback;
}

long allocations = 0;

// Distinct non-null handles.
char contextTag, moduleTag, functionTag, streamTag, eventTag;

} // namespace

extern "C" {

bnbrt_cu_result cuInit(unsigned) {
  return static_cast<bnbrt_cu_result>(env("FAKE_CUDA_INIT_ERROR", 0));
}
bnbrt_cu_result cuDriverGetVersion(int *version) {
  *version = 12080;
  return kSuccess;
}
bnbrt_cu_result cuGetErrorName(bnbrt_cu_result error, const char **name) {
  const ErrorInfo *info = lookupError(error);
  *name = info ? info->name : nullptr;
  return info ? kSuccess : kInvalidValue;
}
bnbrt_cu_result cuGetErrorString(bnbrt_cu_result error, const char **text) {
  const ErrorInfo *info = lookupError(error);
  *text = info ? info->text : nullptr;
  return info ? kSuccess : kInvalidValue;
}
bnbrt_cu_result cuDeviceGetCount(int *count) {
  *count = static_cast<int>(env("FAKE_CUDA_DEVICES", 1));
  return kSuccess;
}
bnbrt_cu_result cuDeviceGet(bnbrt_cu_device *device, int ordinal) {
  if (ordinal < 0 || ordinal >= env("FAKE_CUDA_DEVICES", 1))
    return kInvalidValue;
  *device = ordinal;
  return kSuccess;
}
bnbrt_cu_result cuDeviceGetName(char *name, int length, bnbrt_cu_device) {
  std::strncpy(name, "Fake CUDA Device", length);
  if (length > 0)
    name[length - 1] = '\0';
  return kSuccess;
}
bnbrt_cu_result cuDeviceGetAttribute(int *value, bnbrt_cu_device_attribute a,
                                     bnbrt_cu_device) {
  switch (a) {
  case BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = 9; break;
  case BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = 0; break;
  case BNBRT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = 132; break;
  default: *value = 1024; break;
  }
  return kSuccess;
}
bnbrt_cu_result cuDeviceTotalMem_v2(size_t *bytes, bnbrt_cu_device) {
  *bytes = size_t(80) << 30;
  return kSuccess;
}
bnbrt_cu_result cuDevicePrimaryCtxRetain(bnbrt_cu_context *context,
                                         bnbrt_cu_device) {
  *context = reinterpret_cast<bnbrt_cu_context>(&contextTag);
  return kSuccess;
}
bnbrt_cu_result cuDevicePrimaryCtxRelease_v2(bnbrt_cu_device) {
  return kSuccess;
}
bnbrt_cu_result cuCtxGetCurrent(bnbrt_cu_context *context) {
  *context = reinterpret_cast<bnbrt_cu_context>(&contextTag);
  return kSuccess;
}
bnbrt_cu_result cuCtxSetCurrent(bnbrt_cu_context) { return kSuccess; }
bnbrt_cu_result cuCtxSynchronize() { return kSuccess; }
bnbrt_cu_result cuMemGetInfo_v2(size_t *freeBytes, size_t *totalBytes) {
  *freeBytes = size_t(79) << 30;
  *totalBytes = size_t(80) << 30;
  return kSuccess;
}
bnbrt_cu_result cuModuleLoadData(bnbrt_cu_module *module, const void *) {
  if (env("FAKE_CUDA_FAIL_MODULE", 0))
    return kInvalidImage;
  *module = reinterpret_cast<bnbrt_cu_module>(&moduleTag);
  return kSuccess;
}
bnbrt_cu_result cuModuleLoadDataEx(bnbrt_cu_module *module, const void *image,
                                   unsigned, bnbrt_cu_jit_option *, void **) {
  return cuModuleLoadData(module, image);
}
bnbrt_cu_result cuModuleUnload(bnbrt_cu_module) { return kSuccess; }
bnbrt_cu_result cuModuleGetFunction(bnbrt_cu_function *function,
                                    bnbrt_cu_module, const char *) {
  *function = reinterpret_cast<bnbrt_cu_function>(&functionTag);
  return kSuccess;
}
bnbrt_cu_result cuFuncSetAttribute(bnbrt_cu_function,
                                   bnbrt_cu_function_attribute, int) {
  return kSuccess;
}
bnbrt_cu_result cuLaunchKernel(bnbrt_cu_function, unsigned, unsigned, unsigned,
                               unsigned, unsigned, unsigned, unsigned,
                               bnbrt_cu_stream, void **, void **) {
  return env("FAKE_CUDA_FAIL_LAUNCH", 0) ? kLaunchFailed : kSuccess;
}
bnbrt_cu_result cuMemAlloc_v2(bnbrt_cu_deviceptr *ptr, size_t bytes) {
  if (++allocations == env("FAKE_CUDA_FAIL_ALLOC_AT", 0))
    return kOutOfMemory;
  void *p = std::calloc(1, bytes ? bytes : 1);
  if (!p)
    return kOutOfMemory;
  *ptr = reinterpret_cast<bnbrt_cu_deviceptr>(p);
  return kSuccess;
}
bnbrt_cu_result cuMemAllocManaged(bnbrt_cu_deviceptr *ptr, size_t bytes,
                                  unsigned) {
  return cuMemAlloc_v2(ptr, bytes);
}
bnbrt_cu_result cuMemFree_v2(bnbrt_cu_deviceptr ptr) {
  std::free(reinterpret_cast<void *>(ptr));
  return kSuccess;
}
bnbrt_cu_result cuMemcpyAsync(bnbrt_cu_deviceptr dst, bnbrt_cu_deviceptr src,
                              size_t bytes, bnbrt_cu_stream) {
  std::memmove(reinterpret_cast<void *>(dst),
               reinterpret_cast<const void *>(src), bytes);
  return kSuccess;
}
bnbrt_cu_result cuMemcpyHtoD_v2(bnbrt_cu_deviceptr dst, const void *src,
                                size_t bytes) {
  std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
  return kSuccess;
}
bnbrt_cu_result cuMemcpyDtoH_v2(void *dst, bnbrt_cu_deviceptr src,
                                size_t bytes) {
  std::memcpy(dst, reinterpret_cast<const void *>(src), bytes);
  return kSuccess;
}
bnbrt_cu_result cuMemcpyDtoD_v2(bnbrt_cu_deviceptr dst, bnbrt_cu_deviceptr src,
                                size_t bytes) {
  return cuMemcpyAsync(dst, src, bytes, nullptr);
}
bnbrt_cu_result cuMemsetD8_v2(bnbrt_cu_deviceptr dst, unsigned char value,
                              size_t count) {
  std::memset(reinterpret_cast<void *>(dst), value, count);
  return kSuccess;
}
bnbrt_cu_result cuMemsetD16Async(bnbrt_cu_deviceptr dst, unsigned short value,
                                 size_t count, bnbrt_cu_stream) {
  auto *p = reinterpret_cast<unsigned short *>(dst);
  for (size_t i = 0; i < count; ++i)
    p[i] = value;
  return kSuccess;
}
bnbrt_cu_result cuMemsetD32Async(bnbrt_cu_deviceptr dst, unsigned value,
                                 size_t count, bnbrt_cu_stream) {
  auto *p = reinterpret_cast<unsigned *>(dst);
  for (size_t i = 0; i < count; ++i)
    p[i] = value;
  return kSuccess;
}
bnbrt_cu_result cuMemHostRegister_v2(void *, size_t, unsigned) {
  return kSuccess;
}
bnbrt_cu_result cuMemHostUnregister(void *) { return kSuccess; }
bnbrt_cu_result cuStreamCreate(bnbrt_cu_stream *stream, unsigned) {
  *stream = reinterpret_cast<bnbrt_cu_stream>(&streamTag);
  return kSuccess;
}
bnbrt_cu_result cuStreamDestroy_v2(bnbrt_cu_stream) { return kSuccess; }
bnbrt_cu_result cuStreamSynchronize(bnbrt_cu_stream) { return kSuccess; }
bnbrt_cu_result cuStreamWaitEvent(bnbrt_cu_stream, bnbrt_cu_event, unsigned) {
  return kSuccess;
}
bnbrt_cu_result cuEventCreate(bnbrt_cu_event *event, unsigned) {
  *event = reinterpret_cast<bnbrt_cu_event>(&eventTag);
  return kSuccess;
}
bnbrt_cu_result cuEventDestroy_v2(bnbrt_cu_event) { return kSuccess; }
bnbrt_cu_result cuEventRecord(bnbrt_cu_event, bnbrt_cu_stream) {
  return kSuccess;
}
bnbrt_cu_result cuEventSynchronize(bnbrt_cu_event) { return kSuccess; }
bnbrt_cu_result cuEventElapsedTime(float *ms, bnbrt_cu_event, bnbrt_cu_event) {
  *ms = 0.5f;
  return kSuccess;
}

} // extern "C"
