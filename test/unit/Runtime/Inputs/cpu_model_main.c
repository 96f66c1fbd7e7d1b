/* Drives cpu_model.mlir: compares run() with the same sum computed here and
   checks the runtime's host accounting saw the allocation and its free. */
#include "bnb_runtime.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} Memref2D;

float _mlir_ciface_run(Memref2D *x);

int main(void) {
  float x[4][6];
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c)
      x[r][c] = (float)(r * 10 + c) * 0.5f;
  Memref2D m = {&x[0][0], &x[0][0], 0, {4, 6}, {6, 1}};
  float got = _mlir_ciface_run(&m);
  float want = 0;
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j)
      want += x[j][i] * (float)(4 * i + j + 1);
  uint64_t peak = bnbrt_memory_peak(BNBRT_POOL_HOST, BNBRT_CATEGORY_ACTIVATIONS);
  uint64_t live = bnbrt_outstanding_allocations();
  const char *err = bnbrt_last_error();
  printf("result %.1f expected %.1f host-peak %llu outstanding %llu error %s\n",
         got, want, (unsigned long long)peak, (unsigned long long)live,
         err ? err : "none");
  return got == want && peak >= 6 * 4 * sizeof(float) && live == 0 && !err
             ? 0
             : 1;
}
