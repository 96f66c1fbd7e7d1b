/* Drives gpu_model.mlir. With a usable GPU, run() must fill `out` with 3.5
   and leave no error and no allocation behind. Without one (or with
   BNB_CUDA_DRIVER pointing nowhere), the kernel load in the global
   constructor must already have recorded a clean "no CUDA ..." error, run()
   must change nothing, and the program must exit normally. */
#include "bnb_runtime.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} Memref1D;

void _mlir_ciface_run(Memref1D *out);

int main(int argc, char **argv) {
  int expectNoCuda = argc > 1 && strcmp(argv[1], "--expect-no-cuda") == 0;
  /* Read the error before probing: the probe does not record one. */
  const char *ctorError = bnbrt_last_error();
  char why[512] = "";
  int available = bnbrt_cuda_available(why, sizeof(why));
  printf("cuda available: %d (%s)\n", available, why);
  printf("error after load: %s\n", ctorError ? ctorError : "none");

  float out[16];
  for (int i = 0; i < 16; ++i)
    out[i] = -1.0f;
  Memref1D m = {out, out, 0, {16}, {1}};
  _mlir_ciface_run(&m);
  const char *err = bnbrt_last_error();
  uint64_t live = bnbrt_outstanding_allocations();
  printf("error after run: %s\noutstanding: %llu\n", err ? err : "none",
         (unsigned long long)live);

  if (live != 0)
    return 1;
  if (available && !expectNoCuda) {
    for (int i = 0; i < 16; ++i)
      if (out[i] != 3.5f)
        return 1;
    return err ? 1 : 0;
  }
  /* No CUDA: a clean error from the constructor, nothing written. */
  if (!ctorError || strncmp(ctorError, "no CUDA ", 8) != 0)
    return 1;
  for (int i = 0; i < 16; ++i)
    if (out[i] != -1.0f)
      return 1;
  return 0;
}
