//===- KernelsGeneric.cpp - portable C++ microkernels ---------------------===//
//
// The reference-shaped kernels: any blocksize, any shape, every machine.
// Compiled with -ffp-contract=off so that a*b+c is never fused: the 4-bit
// dequantization rounds the product before the dtype conversion, and the
// double-quant absmax rounds the product before the add.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <vector>

namespace bnb::rt::uk {

void *scratch(int slot, size_t bytes) {
  thread_local std::vector<char> buffers[4];
  std::vector<char> &buffer = buffers[slot];
  if (buffer.size() < bytes + 64)
    buffer.resize(bytes + 64);
  auto address = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64);
}

namespace {

/// Weight element `e` of a float matrix of dtype `dt`, as f32.
inline float loadWeight(const void *w, int dt, int64_t e) {
  if (dt == kF16)
    return halfToFloat(static_cast<const uint16_t *>(w)[e]);
  if (dt == kBF16)
    return bfloat16ToFloat(static_cast<const uint16_t *>(w)[e]);
  return static_cast<const float *>(w)[e];
}

/// out[m * ldOut] = x[m, :] . row for every row m of x [M, K], summed over
/// k in ascending order: the reference order of every portable kernel.
void dotRows(const float *x, int64_t M, int64_t K, const float *row,
             float *out, int64_t ldOut) {
  for (int64_t m = 0; m < M; ++m) {
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k)
      acc += x[m * K + k] * row[k];
    out[m * ldOut] = acc;
  }
}

void linear4bit(const Linear4bitProblem &p, int64_t n0, int64_t n1) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(p.K));
  for (int64_t n = n0; n < n1; ++n) {
    // Per element block index: blocks may span rows here.
    for (int64_t k = 0; k < p.K; ++k) {
      int64_t e = n * p.K + k;
      uint8_t byte = p.packed[e / 2];
      unsigned q = (e % 2 == 0) ? byte >> 4 : byte & 15u;
      float w = p.codebook[q] * p.absmax.get(e / p.blocksize);
      row[k] = roundTo(w, p.compute);
    }
    dotRows(p.x, p.M, p.K, row.data(), p.out + n, p.N);
  }
}

void matmul(const MatmulProblem &p, int64_t n0, int64_t n1) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(p.K));
  for (int64_t n = n0; n < n1; ++n) {
    for (int64_t k = 0; k < p.K; ++k)
      row[k] = loadWeight(p.w, p.wdtype, p.transposed ? n * p.K + k
                                                      : k * p.N + n);
    dotRows(p.x, p.M, p.K, row.data(), p.out + n, p.N);
  }
}

void int8(const Int8Problem &p, int64_t n0, int64_t n1) {
  for (int64_t m = 0; m < p.M; ++m) {
    const int8_t *a = p.a + m * p.K;
    for (int64_t n = n0; n < n1; ++n) {
      const int8_t *b = p.b + n * p.K;
      // Unsigned wrap-around: the int32 result modulo 2^32, no signed
      // overflow even for a K where the true sum would not fit.
      uint32_t acc = 0;
      for (int64_t k = 0; k < p.K; ++k)
        acc += static_cast<uint32_t>(int32_t(a[k]) * int32_t(b[k]));
      p.out[m * p.N + n] = static_cast<int32_t>(acc);
    }
  }
}

} // namespace

const KernelSet &genericKernels() {
  static const KernelSet set{linear4bit, matmul, int8};
  return set;
}

} // namespace bnb::rt::uk
