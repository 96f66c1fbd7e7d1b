//===- FakeCuda.cpp - a stand-in CUDA driver on host memory ---------------===//
//
// The entry points of the fake driver (see FakeCuda.h). The runtime unit
// tests install them as a table; libfakecuda.so exports them by name.
//
//===----------------------------------------------------------------------===//

#include "FakeCuda.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace bnb::test {
namespace {

struct FakeModule;
struct FakeFunction {
  std::string name;
  FakeModule *module;
  unsigned firstBlock = 0; ///< threads per block of the first launch
};
struct FakeModule {
  std::map<std::string, FakeFunction> functions;
  bool anyName = false; ///< every name resolves (created on lookup)
};
struct FakeEvent {
  unsigned flags = 0;
  bool recorded = false;
  double timeMs = 0;
};

// Device contexts are addresses of these; the current one is per thread.
char contextTokens[8];
thread_local bnbrt_cu_context currentContext = nullptr;

uintptr_t addr(bnbrt_cu_deviceptr p) { return static_cast<uintptr_t>(p); }
void *hostPtr(bnbrt_cu_deviceptr p) {
  return reinterpret_cast<void *>(addr(p));
}

bnbrt_cu_result fakeInit(unsigned) {
  fake().initCalls++;
  return fake().initResult;
}
bnbrt_cu_result fakeDriverGetVersion(int *v) {
  *v = fake().driverVersion;
  return 0;
}
bnbrt_cu_result fakeGetErrorName(bnbrt_cu_result r, const char **name) {
  switch (static_cast<int>(r)) {
  case 0: *name = "CUDA_SUCCESS"; return 0;
  case 1: *name = "CUDA_ERROR_INVALID_VALUE"; return 0;
  case 2: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
  case 100: *name = "CUDA_ERROR_NO_DEVICE"; return 0;
  case 101: *name = "CUDA_ERROR_INVALID_DEVICE"; return 0;
  case 200: *name = "CUDA_ERROR_INVALID_IMAGE"; return 0;
  case 218: *name = "CUDA_ERROR_INVALID_PTX"; return 0;
  case 400: *name = "CUDA_ERROR_INVALID_HANDLE"; return 0;
  case 500: *name = "CUDA_ERROR_NOT_FOUND"; return 0;
  case 700: *name = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
  case 719: *name = "CUDA_ERROR_LAUNCH_FAILED"; return 0;
  default: *name = nullptr; return 1;
  }
}
bnbrt_cu_result fakeGetErrorString(bnbrt_cu_result r, const char **text) {
  switch (static_cast<int>(r)) {
  case 0: *text = "no error"; return 0;
  case 1: *text = "invalid argument"; return 0;
  case 2: *text = "out of memory"; return 0;
  case 100: *text = "no CUDA-capable device is detected"; return 0;
  case 101: *text = "invalid device ordinal"; return 0;
  case 200: *text = "device kernel image is invalid"; return 0;
  case 218: *text = "a PTX JIT compilation failed"; return 0;
  case 400: *text = "invalid resource handle"; return 0;
  case 500: *text = "named symbol not found"; return 0;
  case 700: *text = "an illegal memory access was encountered"; return 0;
  case 719: *text = "unspecified launch failure"; return 0;
  default: *text = nullptr; return 1;
  }
}
bnbrt_cu_result fakeDeviceGetCount(int *count) {
  *count = fake().deviceCount;
  return 0;
}
bnbrt_cu_result fakeDeviceGet(bnbrt_cu_device *dev, int ordinal) {
  if (ordinal < 0 || ordinal >= fake().deviceCount)
    return 101;
  *dev = ordinal;
  return 0;
}
bnbrt_cu_result fakeDeviceGetName(char *name, int len, bnbrt_cu_device dev) {
  if (len <= 0)
    return 1;
  if (fake().deviceName.empty())
    std::snprintf(name, size_t(len), "Fake GPU %d", static_cast<int>(dev));
  else
    std::snprintf(name, size_t(len), "%s", fake().deviceName.c_str());
  return 0;
}
bnbrt_cu_result fakeDeviceGetAttribute(int *value,
                                       bnbrt_cu_device_attribute attribute,
                                       bnbrt_cu_device) {
  switch (static_cast<int>(attribute)) {
  case BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = 9; return 0;
  case BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = 0; return 0;
  case BNBRT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = 132; return 0;
  case BNBRT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *value = fake().sharedMemoryOptIn;
    return 0;
  default: return 1;
  }
}
bnbrt_cu_result fakeDeviceTotalMem(size_t *bytes, bnbrt_cu_device) {
  *bytes = size_t(80) << 30;
  return 0;
}
bnbrt_cu_result fakePrimaryCtxRetain(bnbrt_cu_context *ctx,
                                     bnbrt_cu_device dev) {
  fake().retainedDevices.push_back(static_cast<int>(dev));
  *ctx = reinterpret_cast<bnbrt_cu_context>(&contextTokens[dev]);
  return 0;
}
bnbrt_cu_result fakePrimaryCtxRelease(bnbrt_cu_device) { return 0; }
bnbrt_cu_result fakeCtxGetCurrent(bnbrt_cu_context *ctx) {
  *ctx = currentContext;
  return 0;
}
bnbrt_cu_result fakeCtxSetCurrent(bnbrt_cu_context ctx) {
  fake().ctxSetCurrentCalls++;
  currentContext = ctx;
  return 0;
}
bnbrt_cu_result fakeCtxSynchronize() {
  fake().ctxSyncCalls++;
  return fake().syncResult;
}
bnbrt_cu_result fakeMemGetInfo(size_t *freeBytes, size_t *totalBytes) {
  *totalBytes = size_t(80) << 30;
  *freeBytes = size_t(79) << 30;
  return 0;
}

bnbrt_cu_result loadImage(bnbrt_cu_module *module, const void *image) {
  if (fake().moduleLoadResult)
    return fake().moduleLoadResult;
  const char *text = static_cast<const char *>(image);
  bool listed = std::strncmp(text, "fake:", 5) == 0;
  if (!listed && !fake().acceptAnyImage)
    return 200;
  auto *m = new FakeModule;
  m->anyName = !listed;
  std::string names(listed ? text + 5 : "");
  size_t start = 0;
  while (start <= names.size()) {
    size_t comma = names.find(',', start);
    std::string name = names.substr(start, comma - start);
    if (!name.empty())
      m->functions[name] = FakeFunction{name, m};
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  fake().liveModules++;
  *module = reinterpret_cast<bnbrt_cu_module>(m);
  return 0;
}
bnbrt_cu_result fakeModuleLoadData(bnbrt_cu_module *module,
                                   const void *image) {
  return loadImage(module, image);
}
bnbrt_cu_result fakeModuleLoadDataEx(bnbrt_cu_module *module,
                                     const void *image, unsigned n,
                                     bnbrt_cu_jit_option *options,
                                     void **values) {
  char *log = nullptr;
  size_t logSize = 0;
  for (unsigned i = 0; i < n; ++i) {
    switch (static_cast<int>(options[i])) {
    case BNBRT_CU_JIT_OPTIMIZATION_LEVEL:
      fake().jitOptLevel = int(reinterpret_cast<intptr_t>(values[i]));
      break;
    case BNBRT_CU_JIT_ERROR_LOG_BUFFER:
      log = static_cast<char *>(values[i]);
      break;
    case BNBRT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
      logSize = size_t(reinterpret_cast<uintptr_t>(values[i]));
      break;
    default:
      return 1;
    }
  }
  bnbrt_cu_result r = loadImage(module, image);
  if (r != 0 && log && logSize > 0)
    std::snprintf(log, logSize,
                  "ptxas fatal   : fake syntax error on line 3\nmore detail");
  return r;
}
bnbrt_cu_result fakeModuleUnload(bnbrt_cu_module module) {
  delete reinterpret_cast<FakeModule *>(module);
  fake().liveModules--;
  return 0;
}
bnbrt_cu_result fakeModuleGetFunction(bnbrt_cu_function *function,
                                      bnbrt_cu_module module,
                                      const char *name) {
  fake().getFunctionCalls++;
  auto *m = reinterpret_cast<FakeModule *>(module);
  auto it = m->functions.find(name);
  if (it == m->functions.end() && m->anyName)
    it = m->functions.emplace(name, FakeFunction{name, m}).first;
  if (it == m->functions.end())
    return 500;
  *function = reinterpret_cast<bnbrt_cu_function>(&it->second);
  return 0;
}
bnbrt_cu_result fakeFuncSetAttribute(bnbrt_cu_function,
                                     bnbrt_cu_function_attribute attribute,
                                     int value) {
  fake().funcAttributes.emplace_back(static_cast<int>(attribute), value);
  return 0;
}
void runKernel(const FakeLaunch &launch) {
  auto it = fake().kernelMs.find(launch.kernel);
  if (it != fake().kernelMs.end())
    fake().clockMs += it->second;
}
bnbrt_cu_result fakeLaunchKernel(bnbrt_cu_function f, unsigned gx, unsigned gy,
                                 unsigned gz, unsigned bx, unsigned by,
                                 unsigned bz, unsigned smem,
                                 bnbrt_cu_stream stream, void **params,
                                 void **extra) {
  FakeLaunch launch;
  launch.kernel = reinterpret_cast<FakeFunction *>(f)->name;
  launch.grid[0] = gx, launch.grid[1] = gy, launch.grid[2] = gz;
  launch.block[0] = bx, launch.block[1] = by, launch.block[2] = bz;
  launch.smem = smem;
  launch.stream = stream;
  launch.params = params;
  launch.extra = extra;
  auto *function = reinterpret_cast<FakeFunction *>(f);
  if (function->firstBlock == 0)
    function->firstBlock = bx * by * bz;
  fake().launches.push_back(launch);
  if (fake().launchResult)
    return fake().launchResult;
  runKernel(launch);
  return 0;
}
/// Allocates zero-filled "device" memory. Requires fakeMutex().
bnbrt_cu_result allocate(bnbrt_cu_deviceptr *ptr, size_t bytes) {
  void *p = std::calloc(1, bytes ? bytes : 1);
  if (!p)
    return 2;
  fake().liveBlocks[reinterpret_cast<uintptr_t>(p)] = bytes ? bytes : 1;
  *ptr = reinterpret_cast<uintptr_t>(p);
  return 0;
}
bnbrt_cu_result fakeMemAlloc(bnbrt_cu_deviceptr *ptr, size_t bytes) {
  std::lock_guard<std::mutex> lock(fakeMutex());
  if (++fake().allocCalls == fake().failAllocAt)
    return 2;
  return allocate(ptr, bytes);
}
bnbrt_cu_result fakeMemAllocManaged(bnbrt_cu_deviceptr *ptr, size_t bytes,
                                    unsigned flags) {
  std::lock_guard<std::mutex> lock(fakeMutex());
  fake().managedAllocCalls++;
  if (flags != BNBRT_CU_MEM_ATTACH_GLOBAL)
    return 1;
  return allocate(ptr, bytes);
}
bnbrt_cu_result fakeMemFree(bnbrt_cu_deviceptr ptr) {
  std::lock_guard<std::mutex> lock(fakeMutex());
  fake().freeCalls++;
  auto it = fake().liveBlocks.find(addr(ptr));
  if (it == fake().liveBlocks.end())
    return 1;
  std::free(hostPtr(ptr));
  fake().liveBlocks.erase(it);
  return 0;
}
/// Whether `address` lies in a live fake device block. Requires fakeMutex().
bool isDevice(uintptr_t address) {
  const std::map<uintptr_t, size_t> &live = fake().liveBlocks;
  auto it = live.upper_bound(address);
  return it != live.begin() &&
         address < std::prev(it)->first + std::prev(it)->second;
}
/// Counts a copy that moves host memory into device memory.
void countCopy(uintptr_t dst, uintptr_t src, size_t bytes) {
  std::lock_guard<std::mutex> lock(fakeMutex());
  if (isDevice(dst) && !isDevice(src)) {
    fake().uploads++;
    fake().uploadedBytes += bytes;
  }
}
bnbrt_cu_result fakeMemcpyAsync(bnbrt_cu_deviceptr dst, bnbrt_cu_deviceptr src,
                                size_t bytes, bnbrt_cu_stream) {
  fake().memcpyAsyncCalls++;
  if (fake().memcpyResult)
    return fake().memcpyResult;
  countCopy(addr(dst), addr(src), bytes);
  std::memmove(hostPtr(dst), hostPtr(src), bytes);
  return 0;
}
bnbrt_cu_result fakeMemcpyHtoD(bnbrt_cu_deviceptr dst, const void *src,
                               size_t bytes) {
  fake().memcpyHtoDCalls++;
  if (fake().memcpyResult)
    return fake().memcpyResult;
  countCopy(addr(dst), reinterpret_cast<uintptr_t>(src), bytes);
  std::memcpy(hostPtr(dst), src, bytes);
  return 0;
}
bnbrt_cu_result fakeMemcpyDtoH(void *dst, bnbrt_cu_deviceptr src,
                               size_t bytes) {
  if (fake().memcpyResult)
    return fake().memcpyResult;
  std::memcpy(dst, hostPtr(src), bytes);
  return 0;
}
bnbrt_cu_result fakeMemcpyDtoD(bnbrt_cu_deviceptr dst, bnbrt_cu_deviceptr src,
                               size_t bytes) {
  if (fake().memcpyResult)
    return fake().memcpyResult;
  countCopy(addr(dst), addr(src), bytes);
  std::memmove(hostPtr(dst), hostPtr(src), bytes);
  return 0;
}
bnbrt_cu_result fakeMemsetD8(bnbrt_cu_deviceptr dst, unsigned char value,
                             size_t count) {
  std::memset(hostPtr(dst), value, count);
  return 0;
}
bnbrt_cu_result fakeMemsetD16(bnbrt_cu_deviceptr dst, unsigned short value,
                              size_t count, bnbrt_cu_stream) {
  auto *p = static_cast<unsigned short *>(hostPtr(dst));
  for (size_t i = 0; i < count; ++i)
    p[i] = value;
  return 0;
}
bnbrt_cu_result fakeMemsetD32(bnbrt_cu_deviceptr dst, unsigned value,
                              size_t count, bnbrt_cu_stream) {
  auto *p = static_cast<unsigned *>(hostPtr(dst));
  for (size_t i = 0; i < count; ++i)
    p[i] = value;
  return 0;
}
bnbrt_cu_result fakeMemHostRegister(void *ptr, size_t bytes, unsigned) {
  fake().hostRegistered.emplace_back(ptr, bytes);
  return 0;
}
bnbrt_cu_result fakeMemHostUnregister(void *ptr) {
  fake().hostUnregistered.push_back(ptr);
  return 0;
}
bnbrt_cu_result fakeStreamCreate(bnbrt_cu_stream *stream, unsigned flags) {
  fake().lastStreamFlags = flags;
  fake().liveStreams++;
  *stream = reinterpret_cast<bnbrt_cu_stream>(new char);
  return 0;
}
bnbrt_cu_result fakeStreamDestroy(bnbrt_cu_stream stream) {
  delete reinterpret_cast<char *>(stream);
  fake().liveStreams--;
  return 0;
}
bnbrt_cu_result fakeStreamSynchronize(bnbrt_cu_stream) {
  fake().streamSyncCalls++;
  return fake().syncResult;
}
bnbrt_cu_result fakeStreamWaitEvent(bnbrt_cu_stream, bnbrt_cu_event event,
                                    unsigned) {
  fake().streamWaitCalls++;
  return reinterpret_cast<FakeEvent *>(event)->recorded ? 0 : 400;
}
bnbrt_cu_result fakeEventCreate(bnbrt_cu_event *event, unsigned flags) {
  fake().eventCreateCalls++;
  fake().lastEventFlags = flags;
  fake().liveEvents++;
  auto *e = new FakeEvent;
  e->flags = flags;
  *event = reinterpret_cast<bnbrt_cu_event>(e);
  return 0;
}
bnbrt_cu_result fakeEventDestroy(bnbrt_cu_event event) {
  delete reinterpret_cast<FakeEvent *>(event);
  fake().liveEvents--;
  return 0;
}
bnbrt_cu_result fakeEventRecord(bnbrt_cu_event event, bnbrt_cu_stream) {
  fake().eventRecordCalls++;
  auto *e = reinterpret_cast<FakeEvent *>(event);
  e->recorded = true;
  e->timeMs = fake().clockMs;
  return 0;
}
bnbrt_cu_result fakeEventSynchronize(bnbrt_cu_event event) {
  return reinterpret_cast<FakeEvent *>(event)->recorded ? fake().syncResult
                                                        : 400;
}
bnbrt_cu_result fakeEventElapsedTime(float *ms, bnbrt_cu_event start,
                                     bnbrt_cu_event end) {
  auto *s = reinterpret_cast<FakeEvent *>(start);
  auto *e = reinterpret_cast<FakeEvent *>(end);
  // Like the real driver: events without timing cannot be measured.
  if ((s->flags | e->flags) & BNBRT_CU_EVENT_DISABLE_TIMING)
    return 400;
  if (!s->recorded || !e->recorded)
    return 400;
  *ms = fake().fixedElapsedMs >= 0 ? float(fake().fixedElapsedMs)
                                   : float(e->timeMs - s->timeMs);
  return 0;
}
} // namespace

bnbrt_cu_result fakeFuncGetAttribute(int *value, int attribute,
                                     bnbrt_cu_function function) {
  constexpr int kMaxThreadsPerBlock = 0;
  if (attribute != kMaxThreadsPerBlock || !function)
    return 1;
  unsigned first = reinterpret_cast<FakeFunction *>(function)->firstBlock;
  *value = first ? static_cast<int>(first) : 1024;
  return 0;
}

FakeDriverState &fake() {
  // Never destroyed: the runtime frees into the driver from exit-time
  // destructors (model unload, the device cache), after static state of
  // this library may already be gone.
  static FakeDriverState *state = new FakeDriverState;
  return *state;
}

std::mutex &fakeMutex() {
  static std::mutex *mutex = new std::mutex;
  return *mutex;
}

void resetFakeDriver() {
  std::lock_guard<std::mutex> lock(fakeMutex());
  for (auto &[p, bytes] : fake().liveBlocks)
    std::free(reinterpret_cast<void *>(p));
  fake() = FakeDriverState{};
  currentContext = nullptr;
}

bnbrt_driver_table fakeDriverTable() {
  bnbrt_driver_table t{};
  t.cuInit = fakeInit;
  t.cuDriverGetVersion = fakeDriverGetVersion;
  t.cuGetErrorName = fakeGetErrorName;
  t.cuGetErrorString = fakeGetErrorString;
  t.cuDeviceGetCount = fakeDeviceGetCount;
  t.cuDeviceGet = fakeDeviceGet;
  t.cuDeviceGetName = fakeDeviceGetName;
  t.cuDeviceGetAttribute = fakeDeviceGetAttribute;
  t.cuDeviceTotalMem_v2 = fakeDeviceTotalMem;
  t.cuDevicePrimaryCtxRetain = fakePrimaryCtxRetain;
  t.cuDevicePrimaryCtxRelease_v2 = fakePrimaryCtxRelease;
  t.cuCtxGetCurrent = fakeCtxGetCurrent;
  t.cuCtxSetCurrent = fakeCtxSetCurrent;
  t.cuCtxSynchronize = fakeCtxSynchronize;
  t.cuMemGetInfo_v2 = fakeMemGetInfo;
  t.cuModuleLoadData = fakeModuleLoadData;
  t.cuModuleLoadDataEx = fakeModuleLoadDataEx;
  t.cuModuleUnload = fakeModuleUnload;
  t.cuModuleGetFunction = fakeModuleGetFunction;
  t.cuFuncSetAttribute = fakeFuncSetAttribute;
  t.cuLaunchKernel = fakeLaunchKernel;
  t.cuMemAlloc_v2 = fakeMemAlloc;
  t.cuMemAllocManaged = fakeMemAllocManaged;
  t.cuMemFree_v2 = fakeMemFree;
  t.cuMemcpyAsync = fakeMemcpyAsync;
  t.cuMemcpyHtoD_v2 = fakeMemcpyHtoD;
  t.cuMemcpyDtoH_v2 = fakeMemcpyDtoH;
  t.cuMemcpyDtoD_v2 = fakeMemcpyDtoD;
  t.cuMemsetD8_v2 = fakeMemsetD8;
  t.cuMemsetD16Async = fakeMemsetD16;
  t.cuMemsetD32Async = fakeMemsetD32;
  t.cuMemHostRegister_v2 = fakeMemHostRegister;
  t.cuMemHostUnregister = fakeMemHostUnregister;
  t.cuStreamCreate = fakeStreamCreate;
  t.cuStreamDestroy_v2 = fakeStreamDestroy;
  t.cuStreamSynchronize = fakeStreamSynchronize;
  t.cuStreamWaitEvent = fakeStreamWaitEvent;
  t.cuEventCreate = fakeEventCreate;
  t.cuEventDestroy_v2 = fakeEventDestroy;
  t.cuEventRecord = fakeEventRecord;
  t.cuEventSynchronize = fakeEventSynchronize;
  t.cuEventElapsedTime = fakeEventElapsedTime;
  return t;
}

} // namespace bnb::test
