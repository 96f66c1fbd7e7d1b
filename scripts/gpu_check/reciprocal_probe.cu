// Measures, on the GPU at hand, how often bitsandbytes' fast-math scale
// expressions differ from the correctly rounded ones bnb-mlir computes
// (docs/numerics.md, "The reciprocal"): for every positive finite fp16
// absmax r, the kernel's 1.0f / r under --use_fast_math (rcp.approx) and
// __fdividef(127.0f, r), against 1/r and 127 * (1/r) rounded to f32.
// Built by gpu-check.sh with nvcc --use_fast_math, as bitsandbytes is.
#include <cuda_fp16.h>
#include <cstdio>
#include <cstring>

__global__ void probe(float *inverse, float *scale) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i == 0 || i >= 0x7c00)
    return;
  float r = __half2float(__ushort_as_half(static_cast<unsigned short>(i)));
  inverse[i] = 1.0f / r;
  scale[i] = __fdividef(127.0f, r);
}

/// IEEE f32 arithmetic on the host: volatile keeps each rounding.
static float hostInverse(float r) {
  volatile float one = 1.0f;
  return one / r;
}

int main() {
  const unsigned n = 0x7c00;
  float *inverse, *scale;
  if (cudaMallocManaged(&inverse, n * sizeof(float)) != cudaSuccess ||
      cudaMallocManaged(&scale, n * sizeof(float)) != cudaSuccess) {
    std::fprintf(stderr, "error: cudaMallocManaged failed\n");
    return 1;
  }
  probe<<<(n + 255) / 256, 256>>>(inverse, scale);
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::fprintf(stderr, "error: probe kernel failed\n");
    return 1;
  }
  unsigned inverseDiffers = 0, scaleDiffers = 0, firstScale = 0;
  for (unsigned i = 1; i < n; ++i) {
    unsigned short bits = static_cast<unsigned short>(i);
    __half h;
    std::memcpy(&h, &bits, sizeof(bits));
    float r = __half2float(h);
    float inv = hostInverse(r);
    volatile float s = 127.0f * inv;
    inverseDiffers += inverse[i] != inv;
    if (scale[i] != s && !scaleDiffers++)
      firstScale = i;
  }
  std::printf("reciprocal probe: of %u fp16 absmax values, rcp.approx differs "
              "from 1/r in %u, __fdividef(127, r) from 127*(1/r) in %u "
              "(first fp16 bits 0x%04x)\n",
              n - 1, inverseDiffers, scaleDiffers, firstScale);
  return 0;
}
