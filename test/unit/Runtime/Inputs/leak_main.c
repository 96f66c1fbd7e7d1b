/* Leaves one device-free host allocation live at exit, so the runtime's
   exit-time leak report has something to print. */
#include "bnb_runtime.h"
#include "bnb_runtime_abi.h"

int main(void) {
  bnbrt_set_category(BNBRT_CATEGORY_KV_CACHE);
  void *kept = _mlir_memref_to_llvm_alloc(4096);
  void *freed = _mlir_memref_to_llvm_alloc(100);
  _mlir_memref_to_llvm_free(freed);
  return kept ? 0 : 1;
}
