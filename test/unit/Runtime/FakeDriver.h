//===- FakeDriver.h - the runtime tests' fixture on the fake driver -*- C++ -*-//
//
// The runtime unit tests run libbnb_runtime on the stand-in driver of
// test/Tools/fake-cuda, installed in process as a driver table.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_UNIT_RUNTIME_FAKEDRIVER_H
#define BNB_TEST_UNIT_RUNTIME_FAKEDRIVER_H

#include "FakeCuda.h"

#include "bnb_runtime.h"
#include "bnb_runtime_abi.h"

#include <gtest/gtest.h>

#include <string>

namespace bnb::test {

/// Fixture: resets the runtime and the fake state and installs the fake
/// table; on teardown resets the runtime again and restores libcuda. The
/// caching allocator is off, so that every allocation and free reaches the
/// driver; DeviceCacheTest turns it on.
class FakeDriverTest : public ::testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  /// Installs `table` instead of the default fake table.
  void install(const bnbrt_driver_table &table);

  /// The recorded error, or "" when there is none.
  static std::string error() {
    const char *e = bnbrt_last_error();
    return e ? e : "";
  }
};

} // namespace bnb::test

#endif // BNB_TEST_UNIT_RUNTIME_FAKEDRIVER_H
