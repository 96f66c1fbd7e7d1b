//===- FakeDriver.cpp - the runtime tests' fixture on the fake driver -----===//

#include "FakeDriver.h"

namespace bnb::test {

void FakeDriverTest::SetUp() {
  bnbrt_reset();
  bnbrt_set_device_caching(0);
  resetFakeDriver();
  bnbrt_driver_table table = fakeDriverTable();
  bnbrt_set_driver_table(&table);
}

void FakeDriverTest::install(const bnbrt_driver_table &table) {
  bnbrt_set_driver_table(&table);
}

void FakeDriverTest::TearDown() {
  bnbrt_reset();
  bnbrt_set_driver_table(nullptr);
}

} // namespace bnb::test
