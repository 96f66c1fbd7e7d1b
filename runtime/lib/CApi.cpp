//===- CApi.cpp - the bnbrt_* C API ---------------------------------------===//

#include "bnb_runtime.h"
#include "bnb_runtime_driver.h"

#include "DeviceCache.h"
#include "DeviceMemory.h"
#include "Driver.h"
#include "ErrorState.h"
#include "HostMemory.h"
#include "KernelRegistry.h"
#include "MemoryTracker.h"
#include "ResidentConstants.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#ifndef BNB_RUNTIME_VERSION
#define BNB_RUNTIME_VERSION "unknown"
#endif

using namespace bnb::rt;

namespace {

std::atomic<bool> leakReportAtExit{true};

/// Prints outstanding allocations when the library is unloaded or the
/// process exits; singletons are never destroyed, so they are still valid.
__attribute__((destructor)) void reportLeaksAtExit() {
  if (!leakReportAtExit.load())
    return;
  const char *off = std::getenv("BNB_RT_NO_LEAK_REPORT");
  if (off && *off && *off != '0')
    return;
  MemoryTracker &tracker = MemoryTracker::get();
  if (tracker.outstanding() != 0)
    std::fputs(tracker.report().c_str(), stderr);
}

bnbrt_cu_deviceptr devicePtr(const void *ptr) {
  return reinterpret_cast<uintptr_t>(ptr);
}

/// Runs a synchronous transfer `call` unless an error is recorded.
template <typename Call>
int transfer(const std::string &what, Call call) {
  if (hasError())
    return -1;
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return -1;
  if (bnbrt_cu_result r = call(*cu)) {
    recordError(Driver::get().failure(what, r) +
                KernelRegistry::get().lastLaunchedNote());
    return -1;
  }
  return 0;
}

/// Copies `text` into `buf` like snprintf; returns the full length.
size_t copyOut(const std::string &text, char *buf, size_t size) {
  if (buf && size > 0) {
    size_t n = std::min(text.size(), size - 1);
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  return text.size();
}

} // namespace

extern "C" {

int bnbrt_abi_version(void) { return BNBRT_ABI_VERSION; }

const char *bnbrt_version(void) { return BNB_RUNTIME_VERSION; }

const char *bnbrt_last_error(void) { return lastError(); }

void bnbrt_clear_error(void) { clearError(); }

int bnbrt_cuda_available(char *err, size_t errSize) {
  std::string why;
  if (Driver::get().probe(&why))
    return 1;
  copyOut(why, err, errSize);
  return 0;
}

int bnbrt_set_device(int ordinal) {
  if (ordinal < 0)
    return -1;
  Driver::get().setDevice(ordinal);
  return 0;
}

int bnbrt_get_device(void) { return Driver::get().device(); }

int bnbrt_device_count(void) {
  if (!Driver::get().acquire())
    return -1;
  return Driver::get().deviceCount();
}

int bnbrt_get_device_info(bnbrt_device_info *info) {
  if (!info)
    return -1;
  Driver &driver = Driver::get();
  const bnbrt_driver_table *cu = driver.acquire();
  if (!cu)
    return -1;
  bnbrt_device_info out;
  std::memset(&out, 0, sizeof(out));
  out.ordinal = driver.device();
  out.driver_version = driver.driverVersion();
  bnbrt_cu_device dev = driver.cuDevice();
  size_t freeBytes = 0, totalBytes = 0;
  bnbrt_cu_result r;
  if ((r = cu->cuDeviceGetName(out.name, int(sizeof(out.name)), dev))) {
    recordError(driver.failure("cuDeviceGetName", r));
    return -1;
  }
  out.name[sizeof(out.name) - 1] = '\0';
  struct {
    int attribute;
    int *value;
    const char *what;
  } attributes[] = {
      {BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &out.sm_major,
       "compute capability major"},
      {BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &out.sm_minor,
       "compute capability minor"},
      {BNBRT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
       &out.multiprocessor_count, "multiprocessor count"},
  };
  for (auto &a : attributes) {
    if ((r = cu->cuDeviceGetAttribute(
             a.value, static_cast<bnbrt_cu_device_attribute>(a.attribute),
             dev))) {
      recordError(
          driver.failure(format("cuDeviceGetAttribute(%s)", a.what), r));
      return -1;
    }
  }
  if ((r = cu->cuMemGetInfo_v2(&freeBytes, &totalBytes))) {
    recordError(driver.failure("cuMemGetInfo_v2", r));
    return -1;
  }
  out.free_memory_bytes = freeBytes;
  out.total_memory_bytes = totalBytes;
  *info = out;
  return 0;
}

const char *bnbrt_category_name(int category) {
  switch (category) {
  case BNBRT_CATEGORY_WEIGHTS: return "weights";
  case BNBRT_CATEGORY_ACTIVATIONS: return "activations";
  case BNBRT_CATEGORY_WORKSPACE: return "workspace";
  case BNBRT_CATEGORY_KV_CACHE: return "kv-cache";
  case BNBRT_CATEGORY_CONSTANTS: return "constants";
  case BNBRT_CATEGORY_TOTAL: return "total";
  default: return "invalid";
  }
}

int bnbrt_set_category(int category) {
  if (!isValidCategory(category))
    return -1;
  return MemoryTracker::get().setDefaultCategory(category);
}

int bnbrt_get_category(void) { return MemoryTracker::get().defaultCategory(); }

int bnbrt_get_memory_stats(int pool, int category, bnbrt_memory_stats *stats) {
  if (!stats || !isValidPool(pool) ||
      !(isValidCategory(category) || category == BNBRT_CATEGORY_TOTAL))
    return -1;
  *stats = MemoryTracker::get().stats(pool, category);
  return 0;
}

uint64_t bnbrt_memory_current(int pool, int category) {
  bnbrt_memory_stats stats;
  return bnbrt_get_memory_stats(pool, category, &stats) == 0
             ? stats.current_bytes
             : 0;
}

uint64_t bnbrt_memory_peak(int pool, int category) {
  bnbrt_memory_stats stats;
  return bnbrt_get_memory_stats(pool, category, &stats) == 0 ? stats.peak_bytes
                                                             : 0;
}

void bnbrt_reset_memory_peaks(void) { MemoryTracker::get().resetPeaks(); }

uint64_t bnbrt_outstanding_allocations(void) {
  return MemoryTracker::get().outstanding();
}

uint64_t bnbrt_leak_report(FILE *out) {
  MemoryTracker &tracker = MemoryTracker::get();
  if (out)
    std::fputs(tracker.report().c_str(), out);
  return tracker.outstanding();
}

size_t bnbrt_leak_report_string(char *buf, size_t bufSize) {
  return copyOut(MemoryTracker::get().report(), buf, bufSize);
}

void bnbrt_set_leak_report_at_exit(int enabled) {
  leakReportAtExit.store(enabled != 0);
}

void *bnbrt_alloc(size_t bytes, int category) {
  if (!isValidCategory(category)) {
    recordError(format("bnbrt_alloc: invalid memory category %d", category));
    return nullptr;
  }
  return deviceAlloc(bytes, /*managed=*/false, category);
}

void bnbrt_free(void *devicePtr) { deviceFree(devicePtr); }

int bnbrt_memcpy_h2d(void *dst, const void *src, size_t bytes) {
  if (bytes == 0)
    return hasError() ? -1 : 0;
  return transfer(format("cuMemcpyHtoD_v2(%zu bytes)", bytes),
                  [&](const bnbrt_driver_table &cu) {
                    return cu.cuMemcpyHtoD_v2(devicePtr(dst), src, bytes);
                  });
}

int bnbrt_memcpy_d2h(void *dst, const void *src, size_t bytes) {
  if (bytes == 0)
    return hasError() ? -1 : 0;
  return transfer(format("cuMemcpyDtoH_v2(%zu bytes)", bytes),
                  [&](const bnbrt_driver_table &cu) {
                    return cu.cuMemcpyDtoH_v2(dst, devicePtr(src), bytes);
                  });
}

int bnbrt_memcpy_d2d(void *dst, const void *src, size_t bytes) {
  if (bytes == 0)
    return hasError() ? -1 : 0;
  return transfer(format("cuMemcpyDtoD_v2(%zu bytes)", bytes),
                  [&](const bnbrt_driver_table &cu) {
                    return cu.cuMemcpyDtoD_v2(devicePtr(dst), devicePtr(src),
                                              bytes);
                  });
}

int bnbrt_memset(void *dst, int value, size_t bytes) {
  if (bytes == 0)
    return hasError() ? -1 : 0;
  return transfer(format("cuMemsetD8_v2(%zu bytes)", bytes),
                  [&](const bnbrt_driver_table &cu) {
                    return cu.cuMemsetD8_v2(devicePtr(dst),
                                            static_cast<unsigned char>(value),
                                            bytes);
                  });
}

int bnbrt_synchronize(void) {
  int r = transfer("cuCtxSynchronize", [](const bnbrt_driver_table &cu) {
    return cu.cuCtxSynchronize();
  });
  if (r == 0)
    DeviceCache::get().deviceSynchronized();
  return r;
}

int bnbrt_stream_synchronize(void *stream) {
  int r = transfer("cuStreamSynchronize", [&](const bnbrt_driver_table &cu) {
    return cu.cuStreamSynchronize(static_cast<bnbrt_cu_stream>(stream));
  });
  if (r == 0)
    DeviceCache::get().streamSynchronized(stream);
  return r;
}

int bnbrt_set_device_caching(int enabled) {
  bool previous = DeviceCache::get().setEnabled(enabled != 0);
  if (!enabled)
    releaseDeviceCache();
  return previous ? 1 : 0;
}

int bnbrt_device_caching_enabled(void) {
  return DeviceCache::get().enabled() ? 1 : 0;
}

uint64_t bnbrt_device_cache_bytes(void) { return DeviceCache::get().bytes(); }

uint64_t bnbrt_device_cache_blocks(void) {
  return DeviceCache::get().blocks();
}

uint64_t bnbrt_empty_device_cache(void) { return releaseDeviceCache(); }

void *bnbrt_host_alloc(size_t bytes, size_t alignment, int category) {
  if (!isValidCategory(category)) {
    recordError(
        format("bnbrt_host_alloc: invalid memory category %d", category));
    return nullptr;
  }
  return hostAlloc(bytes, alignment, category, "bnbrt_host_alloc");
}

void bnbrt_host_free(void *ptr) { hostFree(ptr); }

void bnbrt_set_profiling(int enabled) {
  KernelRegistry::get().setProfiling(enabled != 0);
}

int bnbrt_profiling_enabled(void) {
  return KernelRegistry::get().profiling() ? 1 : 0;
}

size_t bnbrt_kernel_stats_count(void) {
  KernelRegistry &registry = KernelRegistry::get();
  registry.collect(Driver::get().ifLoaded());
  return registry.launched().size();
}

int bnbrt_get_kernel_stats(size_t index, bnbrt_kernel_stats *stats) {
  std::vector<KernelRecord *> records = KernelRegistry::get().launched();
  if (!stats || index >= records.size())
    return -1;
  stats->name = records[index]->name.c_str();
  stats->launches = records[index]->launches;
  stats->total_ms = records[index]->totalMs;
  return 0;
}

void bnbrt_reset_kernel_stats(void) { KernelRegistry::get().resetStats(); }

size_t bnbrt_kernel_report(FILE *out) {
  size_t count = bnbrt_kernel_stats_count();
  std::vector<KernelRecord *> records = KernelRegistry::get().launched();
  std::stable_sort(records.begin(), records.end(),
                   [](const KernelRecord *a, const KernelRecord *b) {
                     return a->totalMs > b->totalMs;
                   });
  if (out) {
    std::fprintf(out, "%-48s %10s %12s %12s\n", "kernel", "launches",
                 "total ms", "mean us");
    for (const KernelRecord *r : records)
      std::fprintf(out, "%-48s %10llu %12.3f %12.2f\n", r->name.c_str(),
                   static_cast<unsigned long long>(r->launches), r->totalMs,
                   r->launches ? r->totalMs * 1000.0 / double(r->launches)
                               : 0.0);
  }
  return count;
}

void bnbrt_reset(void) {
  KernelRegistry::get().reset(Driver::get().ifLoaded());
  KernelRegistry::get().setProfiling(false);
  releaseDeviceCache();
  DeviceCache::get().configureFromEnvironment();
  Driver::get().reset();
  MemoryTracker::get().reset();
  ResidentConstants::get().reset();
  clearError();
}

void bnbrt_set_driver_path(const char *path) {
  KernelRegistry::get().reset(Driver::get().ifLoaded());
  releaseDeviceCache();
  Driver::get().setPath(path);
}

void bnbrt_set_driver_table(const bnbrt_driver_table *table) {
  KernelRegistry::get().reset(Driver::get().ifLoaded());
  releaseDeviceCache();
  Driver::get().setTable(table);
}

} // extern "C"
