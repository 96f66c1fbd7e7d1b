//===- Float16.cpp - array conversions of 16-bit floats -------------------===//
//
// Out-of-line array loops over the inline scalar conversions; each is a
// single loop GCC vectorizes.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/Float16.h"

using namespace bnb::quant;

void bnb::quant::halfToFloatArray(const void *src, float *dst, size_t n) {
  const unsigned char *bytes = static_cast<const unsigned char *>(src);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = halfToFloat(h);
  }
}

void bnb::quant::bfloat16ToFloatArray(const void *src, float *dst, size_t n) {
  const unsigned char *bytes = static_cast<const unsigned char *>(src);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = bfloat16ToFloat(h);
  }
}
