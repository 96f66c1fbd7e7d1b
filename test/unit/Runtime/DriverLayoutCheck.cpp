//===- DriverLayoutCheck.cpp - the runtime's own driver declarations ------===//
//
// Compile-time check: the structs declared without cuda.h have the layout
// cuda.h gives them.
//
//===----------------------------------------------------------------------===//

#include "DriverLayout.h"

BNB_CHECK_DRIVER_LAYOUT();
