//===- Float16.h - IEEE half and bfloat16 conversions -----------*- C++ -*-===//
//
// Bit-exact conversions between binary32 and the two 16-bit float formats,
// written with integer operations only so that results never depend on the
// host's float16 support, flush-to-zero mode or compiler extensions.
//
// float -> 16 bit rounds to nearest, ties to even, including into and out of
// the half subnormal range; values beyond the largest finite half round to
// infinity exactly as IEEE 754 prescribes (|x| >= 65520). A NaN keeps its sign
// and the top bits of its payload; if those bits are all zero the quiet bit is
// set so the result stays a NaN. 16 bit -> float is exact (every half and
// bfloat16 value is a float), NaN payloads are kept bit for bit, so every one
// of the 65536 bit patterns survives a round trip through float unchanged.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_FLOAT16_H
#define BNB_SUPPORT_FLOAT16_H

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bnb {

/// The bits of `f`.
inline uint32_t floatBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

/// The float whose bits are `bits`.
inline float floatFromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// Rounds `f` to the nearest IEEE binary16 value (ties to even) and returns
/// its bits.
inline uint16_t floatToHalf(float f) {
  uint32_t x = floatBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) {
    if (a == 0x7f800000u)
      return sign | 0x7c00u;
    uint16_t payload = static_cast<uint16_t>((a >> 13) & 0x3ffu);
    return sign | 0x7c00u | (payload ? payload : 0x200u);
  }
  // 65520 is the midpoint between 65504 and the first power of two past the
  // half range; it and everything above round to infinity.
  if (a >= 0x477ff000u)
    return sign | 0x7c00u;
  if (a >= 0x38800000u) {
    // Normal half: rebias the exponent (127 -> 15) and round the 13 dropped
    // mantissa bits; a carry out of the mantissa bumps the exponent, which is
    // the correct result.
    uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
    return sign | static_cast<uint16_t>((rounded - 0x38000000u) >> 13);
  }
  // |f| <= 2^-25 rounds to zero (2^-25 itself is a tie and goes to even 0).
  if (a <= 0x33000000u)
    return sign;
  // Subnormal half: the value in units of 2^-24 is the 24-bit significand
  // shifted right by (126 - exponent), 14..24 places.
  uint32_t exponent = a >> 23;
  uint32_t significand = (a & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126u - exponent;
  uint32_t h = significand >> shift;
  uint32_t rest = significand & ((1u << shift) - 1u);
  uint32_t halfway = 1u << (shift - 1u);
  if (rest > halfway || (rest == halfway && (h & 1u)))
    ++h;
  return sign | static_cast<uint16_t>(h);
}

/// The float value of the IEEE binary16 bits `h` (exact).
///
/// Branch-free so that loops over arrays of halves vectorize: normal and
/// non-finite values are rebiased with integer adds; a subnormal m * 2^-24 is
/// converted as float(m), exact, with its exponent lowered by 24. The cases
/// are combined with bit masks rather than conditionals, which the compiler
/// would otherwise turn back into branches around the conversion.
inline float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t magnitude = h & 0x7fffu;
  uint32_t exponent = magnitude & 0x7c00u;
  uint32_t shifted = magnitude << 13;
  uint32_t normal = shifted + (112u << 23);
  uint32_t nonFinite = shifted + (224u << 23);
  // float(m) for 1 <= m < 1024 is a normal float; 2^-24 scaling keeps it
  // normal. m == 0 gives 0 - (24 << 23), masked off below.
  uint32_t subnormal =
      floatBits(static_cast<float>(static_cast<int32_t>(magnitude))) -
      (24u << 23);
  uint32_t isNonFinite = 0u - static_cast<uint32_t>(exponent == 0x7c00u);
  uint32_t isSubnormal = 0u - static_cast<uint32_t>(exponent == 0);
  uint32_t isZero = 0u - static_cast<uint32_t>(magnitude == 0);
  uint32_t bits = (normal & ~isNonFinite) | (nonFinite & isNonFinite);
  bits = (bits & ~isSubnormal) | (subnormal & isSubnormal & ~isZero);
  return floatFromBits(bits | sign);
}

/// Rounds `f` to the nearest bfloat16 value (ties to even) and returns its
/// bits.
inline uint16_t floatToBFloat16(float f) {
  uint32_t x = floatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    uint16_t h = static_cast<uint16_t>(x >> 16);
    return (h & 0x7fu) ? h : static_cast<uint16_t>(h | 0x40u);
  }
  // Overflow to infinity falls out of the carry into the exponent.
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

/// The float value of the bfloat16 bits `h` (exact).
inline float bfloat16ToFloat(uint16_t h) {
  return floatFromBits(static_cast<uint32_t>(h) << 16);
}

/// Converts `n` halves to floats; `src` may be unaligned.
void halfToFloatArray(const void *src, float *dst, size_t n);

/// Converts `n` bfloat16 values to floats; `src` may be unaligned.
void bfloat16ToFloatArray(const void *src, float *dst, size_t n);

} // namespace bnb

#endif // BNB_SUPPORT_FLOAT16_H
