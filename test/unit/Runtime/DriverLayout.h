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
  static_assert(sizeof(bnbrt_cu_result) == 4, "CUresult")

#endif // BNB_TEST_UNIT_RUNTIME_DRIVERLAYOUT_H
