//===- Float16.cpp - array conversions of 16-bit floats -------------------===//
//
// Out-of-line array loops over the inline scalar conversions; each is a
// single loop GCC vectorizes.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/Float16.h"

using namespace bnb;

// See Blockwise.cpp: AVX2 and AVX-512 versions of the vectorized loops.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&         \
    defined(__linux__)
#define BNB_VECTOR_CLONES                                                      \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BNB_VECTOR_CLONES
#endif

BNB_VECTOR_CLONES
void bnb::halfToFloatArray(const void *src, float *dst, size_t n) {
  const unsigned char *bytes = static_cast<const unsigned char *>(src);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = halfToFloat(h);
  }
}

BNB_VECTOR_CLONES
void bnb::bfloat16ToFloatArray(const void *src, float *dst, size_t n) {
  const unsigned char *bytes = static_cast<const unsigned char *>(src);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = bfloat16ToFloat(h);
  }
}
