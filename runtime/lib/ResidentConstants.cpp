//===- ResidentConstants.cpp - device copies of model constants -----------===//

#include "ResidentConstants.h"

#include "bnb_runtime_abi.h"

#include "DeviceCache.h"
#include "DeviceMemory.h"
#include "Driver.h"
#include "ErrorState.h"

namespace bnb::rt {
namespace {

/// Copies `bytes` from `host` into `device` and waits until they are there:
/// a copy from pageable memory may return before the data reaches the
/// device, and the kernels run on a non-blocking stream. Once per constant.
bool upload(void *device, const void *host, uint64_t bytes) {
  const bnbrt_driver_table *cu = Driver::get().acquire();
  if (!cu)
    return false;
  bnbrt_cu_deviceptr dptr = reinterpret_cast<uintptr_t>(device);
  if (bnbrt_cu_result r = cu->cuMemcpyHtoD_v2(dptr, host, bytes)) {
    recordError(Driver::get().failure(
        format("uploading a constant: cuMemcpyHtoD_v2(%llu bytes)",
               static_cast<unsigned long long>(bytes)),
        r));
    return false;
  }
  if (bnbrt_cu_result r = cu->cuCtxSynchronize()) {
    recordError(Driver::get().failure("uploading a constant: cuCtxSynchronize",
                                      r));
    return false;
  }
  DeviceCache::get().deviceSynchronized();
  return true;
}

} // namespace

ResidentConstants &ResidentConstants::get() {
  // Never destroyed: modules unloaded at process exit still release here.
  static ResidentConstants *constants = new ResidentConstants;
  return *constants;
}

void *ResidentConstants::acquire(const void *host, uint64_t bytes) {
  if (bytes == 0 || hasError())
    return nullptr;
  // Held across the upload so that concurrent first calls upload once.
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = copies_.find(host);
  if (it != copies_.end()) {
    if (it->second.bytes == bytes)
      return it->second.device;
    recordError(format("resident constant at %p was uploaded with %llu "
                       "bytes, now requested with %llu",
                       host, static_cast<unsigned long long>(it->second.bytes),
                       static_cast<unsigned long long>(bytes)));
    return nullptr;
  }
  void *device =
      deviceAlloc(bytes, /*managed=*/false, BNBRT_CATEGORY_CONSTANTS);
  if (!device)
    return nullptr;
  if (!upload(device, host, bytes)) {
    deviceFree(device);
    return nullptr;
  }
  copies_.try_emplace(host, Copy{device, bytes});
  return device;
}

void ResidentConstants::release(const void *host) {
  void *device = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = copies_.find(host);
    if (it == copies_.end())
      return;
    device = it->second.device;
    copies_.erase(it);
  }
  deviceFree(device);
}

size_t ResidentConstants::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return copies_.size();
}

void ResidentConstants::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  copies_.clear();
}

} // namespace bnb::rt

extern "C" {

void *bnbrtResidentConstant(const void *host, uint64_t bytes) {
  return bnb::rt::ResidentConstants::get().acquire(host, bytes);
}

void bnbrtReleaseResidentConstant(const void *host) {
  bnb::rt::ResidentConstants::get().release(host);
}

} // extern "C"
