//===- ResidentConstants.h - device copies of model constants ---*- C++ -*-===//
//
// The constant tables a compiled GPU module reads (code books, rotary
// tables) are uploaded at their first use and stay on the device until the
// module is unloaded, instead of being copied at every call.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_RESIDENTCONSTANTS_H
#define BNB_RUNTIME_LIB_RESIDENTCONSTANTS_H

#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace bnb::rt {

/// The device copies of constant host data, keyed by host address.
class ResidentConstants {
public:
  /// Returns the singleton.
  static ResidentConstants &get();

  /// Returns the device copy of the `bytes` bytes at `host`, uploading them
  /// (charged to the constants category) when there is none yet. Returns
  /// nullptr for zero bytes, while an error is recorded, or on failure
  /// (recorded).
  void *acquire(const void *host, uint64_t bytes);

  /// Frees the device copy of `host`, if there is one.
  void release(const void *host);

  /// Number of device copies held.
  size_t size();

  /// Forgets every copy without freeing it (the driver is being forgotten).
  void reset();

private:
  ResidentConstants() = default;

  /// One uploaded constant.
  struct Copy {
    void *device = nullptr;
    uint64_t bytes = 0;
  };

  std::mutex mutex_;
  std::unordered_map<const void *, Copy> copies_;
};

} // namespace bnb::rt

#endif // BNB_RUNTIME_LIB_RESIDENTCONSTANTS_H
