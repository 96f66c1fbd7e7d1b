//===- Driver.cpp - CUDA driver loaded at first use -----------------------===//
//
// libcuda is opened with dlopen on first use so that the runtime builds, links
// and loads where no driver exists; every outcome of that first use is cached
// until the driver is forgotten (bnbrt_reset, a new table or path).
//
//===----------------------------------------------------------------------===//

#include "Driver.h"
#include "ErrorState.h"

#include <cstdlib>
#include <dlfcn.h>

namespace bnb::rt {
namespace {

/// The default driver library, versioned as the driver package installs it.
constexpr const char *kDefaultDriver = "libcuda.so.1";

/// Names of the CUresult codes the runtime is most likely to see, used when
/// the driver cannot name them (no driver, stub library).
const char *builtinErrorName(bnbrt_cu_result result) {
  switch (static_cast<int>(result)) {
  case 0: return "CUDA_SUCCESS";
  case 1: return "CUDA_ERROR_INVALID_VALUE";
  case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
  case 3: return "CUDA_ERROR_NOT_INITIALIZED";
  case 4: return "CUDA_ERROR_DEINITIALIZED";
  case 34: return "CUDA_ERROR_STUB_LIBRARY";
  case 35: return "CUDA_ERROR_INSUFFICIENT_DRIVER";
  case 36: return "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER";
  case 46: return "CUDA_ERROR_DEVICE_UNAVAILABLE";
  case 100: return "CUDA_ERROR_NO_DEVICE";
  case 101: return "CUDA_ERROR_INVALID_DEVICE";
  case 200: return "CUDA_ERROR_INVALID_IMAGE";
  case 201: return "CUDA_ERROR_INVALID_CONTEXT";
  case 209: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
  case 218: return "CUDA_ERROR_INVALID_PTX";
  case 222: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
  case 400: return "CUDA_ERROR_INVALID_HANDLE";
  case 500: return "CUDA_ERROR_NOT_FOUND";
  case 600: return "CUDA_ERROR_NOT_READY";
  case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS";
  case 701: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
  case 702: return "CUDA_ERROR_LAUNCH_TIMEOUT";
  case 719: return "CUDA_ERROR_LAUNCH_FAILED";
  case 801: return "CUDA_ERROR_NOT_SUPPORTED";
  case 803: return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
  case 804: return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE";
  case 912: return "CUDA_ERROR_INVALID_CLUSTER_SIZE";
  case 999: return "CUDA_ERROR_UNKNOWN";
  default: return nullptr;
  }
}

/// Returns the path dlopen should use: explicit, $BNB_CUDA_DRIVER, default.
std::string driverPath(const std::string &explicitPath) {
  if (!explicitPath.empty())
    return explicitPath;
  const char *env = std::getenv("BNB_CUDA_DRIVER");
  if (env && *env)
    return env;
  return kDefaultDriver;
}

} // namespace

Driver &Driver::get() {
  // Never destroyed: model libraries unload kernels from their destructors.
  static Driver *driver = new Driver;
  return *driver;
}

std::string Driver::errorText(bnbrt_cu_result result) const {
  const char *name = nullptr;
  const char *text = nullptr;
  if (table_.cuGetErrorName && table_.cuGetErrorName(result, &name) != 0)
    name = nullptr;
  if (table_.cuGetErrorString && table_.cuGetErrorString(result, &text) != 0)
    text = nullptr;
  if (!name)
    name = builtinErrorName(result);
  std::string out =
      name ? std::string(name)
           : format("CUDA error %d", static_cast<int>(result));
  if (text && *text)
    out += format(" (%s)", text);
  return out;
}

void Driver::initialize() {
  failure_.clear();
  std::string source;
  if (useInstalledTable_) {
    table_ = installedTable_;
    source = "the installed driver table";
  } else {
    source = driverPath(path_);
    // The handle of another library (the environment changed since) is left
    // open but no longer used.
    if (handle_ && handlePath_ != source)
      handle_ = nullptr;
    if (!handle_) {
      dlerror();
      handle_ = dlopen(source.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle_) {
        const char *why = dlerror();
        failure_ = format("no CUDA driver: %s could not be loaded (%s)",
                          source.c_str(), why ? why : "unknown reason");
        status_.store(Status::Failed);
        return;
      }
      handlePath_ = source;
    }
    table_ = bnbrt_driver_table{};
#define BNBRT_DRIVER_SYMBOL(field, required)                                  \
  table_.field = reinterpret_cast<decltype(table_.field)>(                     \
      dlsym(handle_, #field));
#include "DriverSymbols.def"
    // Drivers of CUDA 12.8+ version the timing query; older ones only have
    // the plain name, with the same signature.
    if (void *v2 = dlsym(handle_, "cuEventElapsedTime_v2"))
      table_.cuEventElapsedTime =
          reinterpret_cast<decltype(table_.cuEventElapsedTime)>(v2);
  }

#define BNBRT_DRIVER_SYMBOL(field, required)                                  \
  if (required && !table_.field) {                                            \
    failure_ = format("no CUDA driver: %s does not provide %s",                \
                      source.c_str(), #field);                                 \
    status_.store(Status::Failed);                                             \
    return;                                                                    \
  }
#include "DriverSymbols.def"

  if (bnbrt_cu_result r = table_.cuInit(0)) {
    failure_ = "no CUDA device: " + failure("cuInit", r);
    status_.store(Status::Failed);
    return;
  }
  int count = 0;
  if (bnbrt_cu_result r = table_.cuDeviceGetCount(&count)) {
    failure_ = "no CUDA device: " + failure("cuDeviceGetCount", r);
    status_.store(Status::Failed);
    return;
  }
  if (count <= 0) {
    failure_ = "no CUDA device: the driver reports 0 devices";
    status_.store(Status::Failed);
    return;
  }
  deviceCount_ = count < kMaxDevices ? count : kMaxDevices;
  if (table_.cuDriverGetVersion(&driverVersion_) != 0)
    driverVersion_ = 0;
  status_.store(Status::Ready, std::memory_order_release);
}

bnbrt_cu_context Driver::retainContext(int ordinal, std::string *why) {
  if (bnbrt_cu_context ctx = contexts_[ordinal].load())
    return ctx;
  bnbrt_cu_device dev = 0;
  if (bnbrt_cu_result r = table_.cuDeviceGet(&dev, ordinal)) {
    *why = failure(format("cuDeviceGet(%d)", ordinal), r);
    return nullptr;
  }
  bnbrt_cu_context ctx = nullptr;
  if (bnbrt_cu_result r = table_.cuDevicePrimaryCtxRetain(&ctx, dev)) {
    *why = failure(format("cuDevicePrimaryCtxRetain(device %d)", ordinal), r);
    return nullptr;
  }
  cuDevices_[ordinal] = dev;
  contexts_[ordinal].store(ctx);
  return ctx;
}

const bnbrt_driver_table *Driver::probe(std::string *why) {
  bnbrt_cu_context ctx = nullptr;
  int ordinal = device_.load();
  if (status_.load(std::memory_order_acquire) == Status::Ready &&
      ordinal >= 0 && ordinal < deviceCount_)
    ctx = contexts_[ordinal].load();
  if (!ctx) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_.load() == Status::Unloaded)
      initialize();
    if (status_.load() == Status::Failed) {
      *why = failure_;
      return nullptr;
    }
    if (ordinal < 0 || ordinal >= deviceCount_) {
      *why = format("no CUDA device: device %d selected but the driver "
                    "reports %d device(s)",
                    ordinal, deviceCount_);
      return nullptr;
    }
    ctx = retainContext(ordinal, why);
    if (!ctx)
      return nullptr;
  }
  // Other code on this thread (or none yet) may own the current context.
  bnbrt_cu_context current = nullptr;
  if (table_.cuCtxGetCurrent(&current) != 0 || current != ctx) {
    if (bnbrt_cu_result r = table_.cuCtxSetCurrent(ctx)) {
      *why = failure("cuCtxSetCurrent", r);
      return nullptr;
    }
  }
  return &table_;
}

const bnbrt_driver_table *Driver::acquire(bool recordFailure) {
  std::string why;
  const bnbrt_driver_table *table = probe(&why);
  if (!table && recordFailure)
    recordError(std::move(why));
  return table;
}

const bnbrt_driver_table *Driver::ifLoaded() {
  if (status_.load(std::memory_order_acquire) != Status::Ready)
    return nullptr;
  std::string why;
  return probe(&why);
}

bnbrt_cu_device Driver::cuDevice() const {
  int ordinal = device_.load();
  return ordinal >= 0 && ordinal < kMaxDevices ? cuDevices_[ordinal] : 0;
}

void Driver::unload() {
  if (status_.load() == Status::Ready) {
    for (int i = 0; i < kMaxDevices; ++i)
      if (contexts_[i].load())
        table_.cuDevicePrimaryCtxRelease_v2(cuDevices_[i]);
  }
  for (int i = 0; i < kMaxDevices; ++i) {
    contexts_[i].store(nullptr);
    cuDevices_[i] = 0;
  }
  deviceCount_ = 0;
  driverVersion_ = 0;
  failure_.clear();
  table_ = bnbrt_driver_table{};
  status_.store(Status::Unloaded);
}

void Driver::setTable(const bnbrt_driver_table *table) {
  std::lock_guard<std::mutex> lock(mutex_);
  unload();
  useInstalledTable_ = table != nullptr;
  installedTable_ = table ? *table : bnbrt_driver_table{};
}

void Driver::setPath(const char *path) {
  std::lock_guard<std::mutex> lock(mutex_);
  unload();
  path_ = path ? path : "";
  // A different library may be asked for; the old handle stays open (libcuda
  // must never be closed while its threads run) but is no longer used.
  handle_ = nullptr;
}

void Driver::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  unload();
  device_.store(0);
}

} // namespace bnb::rt
