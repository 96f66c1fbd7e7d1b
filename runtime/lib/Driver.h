//===- Driver.h - CUDA driver loaded at first use ---------------*- C++ -*-===//
//
// Owns the driver table (filled from libcuda.so.1 with dlopen/dlsym, or
// installed by a test), initializes the driver once, retains the primary
// context of the selected device and makes it current on the calling thread.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_DRIVER_H
#define BNB_RUNTIME_LIB_DRIVER_H

#include "bnb_runtime_driver.h"

#include <atomic>
#include <mutex>
#include <string>

namespace bnb::rt {

/// The process-wide CUDA driver.
class Driver {
public:
  /// Returns the singleton.
  static Driver &get();

  /// Initializes the driver if needed and makes the selected device's context
  /// current. Returns the table, or nullptr after recording the reason as the
  /// sticky error (when `recordFailure`) — the caller then does nothing.
  const bnbrt_driver_table *acquire(bool recordFailure = true);

  /// Initializes like acquire() but reports the reason through `why` and
  /// records nothing.
  const bnbrt_driver_table *probe(std::string *why);

  /// Like probe() when the driver is already initialized; nullptr otherwise.
  /// Never loads anything.
  const bnbrt_driver_table *ifLoaded();

  /// Installs a copy of `table` (nullptr: libcuda) and forgets the driver.
  void setTable(const bnbrt_driver_table *table);

  /// Sets the library dlopen loads (nullptr: default) and forgets the driver.
  void setPath(const char *path);

  /// Selects the device ordinal for later work.
  void setDevice(int ordinal) { device_.store(ordinal); }

  /// Returns the selected device ordinal.
  int device() const { return device_.load(); }

  /// Returns the device count (valid after a successful acquire/probe).
  int deviceCount() const { return deviceCount_; }

  /// Returns the driver version (valid after a successful acquire/probe).
  int driverVersion() const { return driverVersion_; }

  /// Returns the CUdevice of the selected ordinal (after acquire).
  bnbrt_cu_device cuDevice() const;

  /// Returns "CUDA_ERROR_X (description)" for `result`; works without a
  /// driver through a built-in table of names.
  std::string errorText(bnbrt_cu_result result) const;

  /// Returns "`call` failed: CUDA_ERROR_X (description)".
  std::string failure(const std::string &call, bnbrt_cu_result result) const {
    return call + " failed: " + errorText(result);
  }

  /// Forgets the driver: releases contexts when a driver is loaded, keeps the table/path settings, and resets the device to 0.
  void reset();

private:
  Driver() = default;
  enum class Status { Unloaded, Ready, Failed };

  /// Loads the table and initializes the driver. Requires mutex_.
  void initialize();
  /// Retains the primary context of `ordinal`. Requires mutex_.
  bnbrt_cu_context retainContext(int ordinal, std::string *why);
  /// Releases what the loaded driver holds. Requires mutex_.
  void unload();

  static constexpr int kMaxDevices = 64;

  std::mutex mutex_;
  std::atomic<Status> status_{Status::Unloaded};
  std::string failure_;
  bnbrt_driver_table table_{};
  bool useInstalledTable_ = false;
  bnbrt_driver_table installedTable_{};
  std::string path_;
  void *handle_ = nullptr;
  std::string handlePath_;
  std::atomic<int> device_{0};
  int deviceCount_ = 0;
  int driverVersion_ = 0;
  std::atomic<bnbrt_cu_context> contexts_[kMaxDevices] = {};
  bnbrt_cu_device cuDevices_[kMaxDevices] = {};
};

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_DRIVER_H
