//===- DriverLayout.h - expected layout of the driver structs ---*- C++ -*-===//
//
// Sizes and offsets of the driver structs the runtime declares itself, as
// cuda.h defines them on 64-bit Linux. Asserted both against the runtime's
// own declarations and, where the toolkit is installed, against cuda.h.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_UNIT_RUNTIME_DRIVERLAYOUT_H
#define BNB_TEST_UNIT_RUNTIME_DRIVERLAYOUT_H

#include "bnb_runtime_driver.h"

#include <cstddef>

#define BNB_CHECK_DRIVER_LAYOUT()                                              \
  static_assert(sizeof(bnbrt_cu_deviceptr) == 8, "CUdeviceptr");               \
  static_assert(sizeof(bnbrt_cu_result) == 4, "CUresult");                     \
  static_assert(sizeof(bnbrt_cu_launch_attribute) == 72, "CUlaunchAttribute"); \
  static_assert(offsetof(bnbrt_cu_launch_attribute, value) == 8,               \
                "CUlaunchAttribute::value");                                   \
  static_assert(sizeof(bnbrt_cu_launch_config) == 56, "CUlaunchConfig");       \
  static_assert(offsetof(bnbrt_cu_launch_config, sharedMemBytes) == 24,        \
                "CUlaunchConfig::sharedMemBytes");                             \
  static_assert(offsetof(bnbrt_cu_launch_config, hStream) == 32,               \
                "CUlaunchConfig::hStream");                                    \
  static_assert(offsetof(bnbrt_cu_launch_config, attrs) == 40,                 \
                "CUlaunchConfig::attrs");                                      \
  static_assert(offsetof(bnbrt_cu_launch_config, numAttrs) == 48,              \
                "CUlaunchConfig::numAttrs");                                   \
  static_assert(sizeof(bnbrt_cu_tensor_map) == 128, "CUtensorMap size");       \
  static_assert(alignof(bnbrt_cu_tensor_map) == 128, "CUtensorMap alignment")

#endif // BNB_TEST_UNIT_RUNTIME_DRIVERLAYOUT_H
