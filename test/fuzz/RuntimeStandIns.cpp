//===- RuntimeStandIns.cpp - the runtime functions bnb-run's loader names -===//
//
// The manifest target stops before anything is allocated or loaded, so it
// links no libbnb_runtime (a shared library, which a sanitizer build cannot
// link with -z defs). bnb-run's Session.cpp names these functions; reaching
// one from the fuzz target is a bug in the target, so each traps.
//
//===----------------------------------------------------------------------===//

#include "bnb_runtime.h"
#include "bnb_ukernels.h"

extern "C" {
void *bnbrt_alloc(size_t, int) { __builtin_trap(); }
void bnbrt_free(void *) { __builtin_trap(); }
void *bnbrt_host_alloc(size_t, size_t, int) { __builtin_trap(); }
void bnbrt_host_free(void *) { __builtin_trap(); }
int bnbrt_memcpy_h2d(void *, const void *, size_t) { __builtin_trap(); }
int bnbrt_set_num_threads(int) { __builtin_trap(); }
const char *bnbrt_last_error(void) { return nullptr; }
}
