//===- GpuAbi.cpp - the mgpu* functions compiled GPU code calls -----------===//
//
// Signatures match the declarations MLIR 22's gpu-to-llvm and gpu.binary
// translation emit (see bnb_runtime_abi.h). Each function is a safe no-op
// while an error is recorded, except the ones that release resources.
//
//===----------------------------------------------------------------------===//

#include "bnb_runtime_abi.h"

#include "DeviceCache.h"
#include "DeviceMemory.h"
#include "Driver.h"
#include "ErrorState.h"
#include "KernelRegistry.h"
#include "MemRefDescriptor.h"
#include "MemoryTracker.h"

#include <climits>
#include <string>
#include <utility>

using namespace bnb::rt;

namespace {

bnbrt_cu_deviceptr devicePtr(const void *ptr) {
  return reinterpret_cast<uintptr_t>(ptr);
}

std::string failure(const std::string &call, bnbrt_cu_result result) {
  return Driver::get().failure(call, result);
}

/// Calls a driver entry point through the table and records an error naming
/// `describe()` (built only on failure) and the CUDA error; with
/// `noteLaunch`, also the kernel launched last, since asynchronous launch
/// failures surface at the next synchronization. Returns false when there is
/// no driver or the call failed.
template <typename Call, typename Describe>
bool callDriver(Call &&call, Describe &&describe, bool noteLaunch = false) {
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return false;
  bnbrt_cu_result r = call(*cu);
  if (r == 0)
    return true;
  std::string message = failure(describe(), r);
  if (noteLaunch)
    message += KernelRegistry::get().lastLaunchedNote();
  recordError(message);
  return false;
}

/// callDriver for a call named by a constant.
template <typename Call>
bool callDriver(const char *name, Call &&call, bool noteLaunch = false) {
  return callDriver(std::forward<Call>(call), [&] { return std::string(name); },
                    noteLaunch);
}

bnbrt_cu_stream asStream(void *stream) {
  return static_cast<bnbrt_cu_stream>(stream);
}

bnbrt_cu_event asEvent(void *event) {
  return static_cast<bnbrt_cu_event>(event);
}

/// Dynamic shared memory a kernel may use without opting in.
constexpr int kDefaultSharedMemoryLimit = 48 * 1024;

/// Launch geometry checked to fit the driver's unsigned ints.
struct Geometry {
  unsigned grid[3];
  unsigned block[3];
};

bool checkDims(const intptr_t (&dims)[6], Geometry *g,
               const std::string &kernel) {
  for (int i = 0; i < 6; ++i) {
    if (dims[i] < 1 || uintptr_t(dims[i]) > UINT_MAX) {
      recordError(format("mgpuLaunchKernel(%s): launch dimension %ld out of "
                         "range",
                         kernel.c_str(), static_cast<long>(dims[i])));
      return false;
    }
  }
  for (int i = 0; i < 3; ++i) {
    g->grid[i] = unsigned(dims[i]);
    g->block[i] = unsigned(dims[3 + i]);
  }
  return true;
}

/// Raises the dynamic shared memory limit of `function` when `smem` needs it.
bool prepareSharedMemory(const bnbrt_driver_table &cu,
                         bnbrt_cu_function function, int32_t smem,
                         const std::string &kernel) {
  if (smem < 0) {
    recordError(format("mgpuLaunchKernel(%s): negative dynamic shared memory "
                       "size %d",
                       kernel.c_str(), smem));
    return false;
  }
  if (smem <= kDefaultSharedMemoryLimit)
    return true;
  KernelRegistry &registry = KernelRegistry::get();
  if (registry.sharedMemoryRaised(function, smem))
    return true;
  int limit = 0;
  if (bnbrt_cu_result r = cu.cuDeviceGetAttribute(
          &limit, BNBRT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
          Driver::get().cuDevice())) {
    recordError(failure("cuDeviceGetAttribute(max shared memory per block)", r));
    return false;
  }
  if (smem > limit) {
    recordError(format("mgpuLaunchKernel(%s): %d bytes of dynamic shared "
                       "memory exceed the device limit of %d bytes",
                       kernel.c_str(), smem, limit));
    return false;
  }
  if (bnbrt_cu_result r = cu.cuFuncSetAttribute(
          function, BNBRT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
          smem)) {
    recordError(failure(format("cuFuncSetAttribute(%s, max dynamic shared "
                               "memory %d bytes)",
                               kernel.c_str(), smem),
                        r));
    return false;
  }
  registry.setSharedMemoryRaised(function, smem);
  return true;
}

/// Loads a module image through `load`, reporting with `call`.
template <typename Load>
void *loadModule(const std::string &call, Load load) {
  if (hasError())
    return nullptr;
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return nullptr;
  bnbrt_cu_module module = nullptr;
  std::string log;
  if (bnbrt_cu_result r = load(*cu, &module, &log)) {
    std::string message = failure(call, r);
    if (!log.empty())
      message += ": " + log;
    recordError(std::move(message));
    return nullptr;
  }
  return module;
}

/// Trims a JIT log to its first line.
std::string firstLine(const char *text) {
  std::string line(text);
  size_t end = line.find('\n');
  if (end != std::string::npos)
    line.resize(end);
  return line;
}

} // namespace

extern "C" {

void *mgpuModuleLoad(void *data, int64_t size) {
  return loadModule(
      format("cuModuleLoadData(%lld-byte image)", static_cast<long long>(size)),
      [&](const bnbrt_driver_table &cu, bnbrt_cu_module *module,
          std::string *) { return cu.cuModuleLoadData(module, data); });
}

void *mgpuModuleLoadJIT(void *data, int32_t optLevel) {
  return loadModule(
      format("cuModuleLoadDataEx(PTX, -O%d)", optLevel),
      [&](const bnbrt_driver_table &cu, bnbrt_cu_module *module,
          std::string *log) {
        char errorLog[4096] = {0};
        bnbrt_cu_jit_option options[] = {
            static_cast<bnbrt_cu_jit_option>(BNBRT_CU_JIT_OPTIMIZATION_LEVEL),
            static_cast<bnbrt_cu_jit_option>(BNBRT_CU_JIT_ERROR_LOG_BUFFER),
            static_cast<bnbrt_cu_jit_option>(
                BNBRT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)};
        void *values[] = {
            reinterpret_cast<void *>(static_cast<intptr_t>(optLevel)),
            errorLog,
            reinterpret_cast<void *>(static_cast<uintptr_t>(sizeof(errorLog)))};
        bnbrt_cu_result r =
            cu.cuModuleLoadDataEx(module, data, 3, options, values);
        errorLog[sizeof(errorLog) - 1] = '\0';
        if (r != 0)
          *log = firstLine(errorLog);
        return r;
      });
}

void mgpuModuleUnload(void *module) {
  if (!module)
    return;
  auto mod = static_cast<bnbrt_cu_module>(module);
  KernelRegistry::get().forgetModule(mod);
  // A model is done with its intermediates when it unloads.
  releaseDeviceCache();
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return;
  if (bnbrt_cu_result r = cu->cuModuleUnload(mod))
    recordError(failure("cuModuleUnload", r));
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  if (hasError())
    return nullptr;
  const char *shown = name ? name : "<null>";
  if (!module || !name) {
    recordError(format("mgpuModuleGetFunction(%s): %s", shown,
                       module ? "the kernel name is null"
                              : "the module is null (its load failed)"));
    return nullptr;
  }
  auto mod = static_cast<bnbrt_cu_module>(module);
  KernelRegistry &registry = KernelRegistry::get();
  if (bnbrt_cu_function cached = registry.lookup(mod, name))
    return cached;
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return nullptr;
  bnbrt_cu_function function = nullptr;
  if (bnbrt_cu_result r = cu->cuModuleGetFunction(&function, mod, name)) {
    recordError(failure(format("cuModuleGetFunction(%s)", name), r));
    return nullptr;
  }
  registry.remember(mod, name, function);
  return function;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *streamPtr,
                      void **params, void **extra, int64_t paramsCount) {
  (void)paramsCount; // the driver reads the parameters from the kernel image
  if (hasError())
    return;
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return;
  if (!function) {
    recordError("mgpuLaunchKernel: the kernel function is null (its lookup "
                "or its module load failed)");
    return;
  }
  auto fn = static_cast<bnbrt_cu_function>(function);
  auto stream = static_cast<bnbrt_cu_stream>(streamPtr);
  KernelRegistry &registry = KernelRegistry::get();
  KernelRecord *record = registry.recordOf(fn);
  std::string kernel = record ? record->name : "<unknown kernel>";
  const intptr_t dims[6] = {gridX, gridY, gridZ, blockX, blockY, blockZ};
  Geometry g;
  if (!checkDims(dims, &g, kernel) ||
      !prepareSharedMemory(*cu, fn, smem, kernel))
    return;

  TimedLaunch timed;
  bool timing = registry.profiling();
  if (timing && !registry.beginTimed(*cu, record, stream, &timed))
    return;
  bnbrt_cu_result r = cu->cuLaunchKernel(
      fn, g.grid[0], g.grid[1], g.grid[2], g.block[0], g.block[1], g.block[2],
      unsigned(smem), stream, params, extra);
  if (timing)
    registry.endTimed(*cu, stream, timed, r == 0);
  if (r != 0) {
    recordError(failure(format("cuLaunchKernel(%s, grid %ux%ux%u, block "
                               "%ux%ux%u, smem %d bytes)",
                               kernel.c_str(), g.grid[0], g.grid[1], g.grid[2],
                               g.block[0], g.block[1], g.block[2], smem),
                        r));
    return;
  }
  registry.setLastLaunched(record);
}

void *mgpuStreamCreate(void) {
  bnbrt_cu_stream stream = nullptr;
  if (hasError() || !callDriver("cuStreamCreate", [&](auto &cu) {
        return cu.cuStreamCreate(&stream, BNBRT_CU_STREAM_NON_BLOCKING);
      }))
    return nullptr;
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  if (!stream)
    return;
  DeviceCache::get().streamDestroyed(stream);
  callDriver("cuStreamDestroy_v2", [&](auto &cu) {
      return cu.cuStreamDestroy_v2(asStream(stream));
    });
}

void mgpuStreamSynchronize(void *stream) {
  if (!hasError() &&
      callDriver(
          "cuStreamSynchronize",
          [&](auto &cu) { return cu.cuStreamSynchronize(asStream(stream)); },
          /*noteLaunch=*/true))
    DeviceCache::get().streamSynchronized(stream);
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  if (!hasError() && event)
    callDriver("cuStreamWaitEvent", [&](auto &cu) {
      return cu.cuStreamWaitEvent(asStream(stream), asEvent(event), 0);
    });
}

void *mgpuEventCreate(void) {
  bnbrt_cu_event event = nullptr;
  if (hasError() || !callDriver("cuEventCreate", [&](auto &cu) {
        return cu.cuEventCreate(&event, BNBRT_CU_EVENT_DISABLE_TIMING);
      }))
    return nullptr;
  return event;
}

void mgpuEventDestroy(void *event) {
  if (event)
    callDriver("cuEventDestroy_v2", [&](auto &cu) {
      return cu.cuEventDestroy_v2(asEvent(event));
    });
}

void mgpuEventSynchronize(void *event) {
  if (!hasError() && event)
    callDriver(
        "cuEventSynchronize",
        [&](auto &cu) { return cu.cuEventSynchronize(asEvent(event)); },
        /*noteLaunch=*/true);
}

void mgpuEventRecord(void *event, void *stream) {
  if (!hasError() && event)
    callDriver("cuEventRecord", [&](auto &cu) {
      return cu.cuEventRecord(asEvent(event), asStream(stream));
    });
}

void *mgpuMemAlloc(uint64_t bytes, void *stream, uint8_t isHostShared) {
  return deviceAlloc(bytes, (isHostShared & 1) != 0,
                     MemoryTracker::get().defaultCategory(), stream);
}

void *bnbrtMemAlloc(uint64_t bytes, void *stream, int32_t category) {
  if (!isValidCategory(category)) {
    recordError(format("bnbrtMemAlloc: invalid memory category %d", category));
    return nullptr;
  }
  return deviceAlloc(bytes, /*managed=*/false, category, stream);
}

void mgpuMemFree(void *ptr, void *stream) {
  // The block's last use is ordered on `stream`: it is reused there at once,
  // elsewhere once the host waited for the stream (DeviceCache.h).
  deviceFree(ptr, stream);
}

void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  if (hasError() || bytes == 0)
    return;
  callDriver(
      [&](auto &cu) {
        return cu.cuMemcpyAsync(devicePtr(dst), devicePtr(src), bytes,
                                asStream(stream));
      },
      [&] {
        return format("cuMemcpyAsync(%p <- %p, %zu bytes)", dst, src, bytes);
      });
}

void mgpuMemset32(void *dst, uint32_t value, size_t count, void *stream) {
  if (hasError() || count == 0)
    return;
  callDriver(
      [&](auto &cu) {
        return cu.cuMemsetD32Async(devicePtr(dst), value, count,
                                   asStream(stream));
      },
      [&] { return format("cuMemsetD32Async(%p, %zu words)", dst, count); });
}

void mgpuMemset16(void *dst, uint16_t value, size_t count, void *stream) {
  if (hasError() || count == 0)
    return;
  callDriver(
      [&](auto &cu) {
        return cu.cuMemsetD16Async(devicePtr(dst), value, count,
                                   asStream(stream));
      },
      [&] {
        return format("cuMemsetD16Async(%p, %zu half-words)", dst, count);
      });
}

void mgpuSetDefaultDevice(int32_t device) { Driver::get().setDevice(device); }

void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSize) {
  if (hasError())
    return;
  MemRefView view = MemRefView::of(descriptor, rank);
  if (!view.isRowMajorDense()) {
    recordError("mgpuMemHostRegisterMemRef: only contiguous memrefs can be "
                "registered");
    return;
  }
  uint64_t bytes = uint64_t(view.numElements()) * uint64_t(elementSize);
  if (bytes == 0)
    return;
  void *ptr = view.data(elementSize);
  callDriver([&](auto &cu) { return cu.cuMemHostRegister_v2(ptr, bytes, 0); },
             [&] {
               return format("cuMemHostRegister_v2(%p, %llu bytes)", ptr,
                             static_cast<unsigned long long>(bytes));
             });
}

void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSize) {
  MemRefView view = MemRefView::of(descriptor, rank);
  if (view.numElements() == 0)
    return;
  void *ptr = view.data(elementSize);
  callDriver([&](auto &cu) { return cu.cuMemHostUnregister(ptr); },
             [&] { return format("cuMemHostUnregister(%p)", ptr); });
}

} // extern "C"
