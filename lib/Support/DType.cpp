//===- DType.cpp - element types of checkpoint tensors --------------------===//

#include "bnb/Support/DType.h"
#include "bnb/Support/Float16.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/ErrorHandling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

using namespace bnb;
using llvm::StringRef;

size_t bnb::dtypeSize(DType dt) {
  switch (dt) {
  case DType::F16:
  case DType::BF16:
  case DType::I16:
    return 2;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F64:
  case DType::I64:
    return 8;
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return 1;
  }
  llvm_unreachable("unknown dtype");
}

bool bnb::isFloatingDType(DType dt) {
  return dt == DType::F16 || dt == DType::BF16 || dt == DType::F32 ||
         dt == DType::F64;
}

StringRef bnb::dtypeSafetensorsName(DType dt) {
  switch (dt) {
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::F32:
    return "F32";
  case DType::F64:
    return "F64";
  case DType::I8:
    return "I8";
  case DType::U8:
    return "U8";
  case DType::I16:
    return "I16";
  case DType::I32:
    return "I32";
  case DType::I64:
    return "I64";
  case DType::Bool:
    return "BOOL";
  }
  llvm_unreachable("unknown dtype");
}

std::optional<DType> bnb::parseSafetensorsDType(StringRef name) {
  return llvm::StringSwitch<std::optional<DType>>(name)
      .Case("F16", DType::F16)
      .Case("BF16", DType::BF16)
      .Case("F32", DType::F32)
      .Case("F64", DType::F64)
      .Case("I8", DType::I8)
      .Case("U8", DType::U8)
      .Case("I16", DType::I16)
      .Case("I32", DType::I32)
      .Case("I64", DType::I64)
      .Case("BOOL", DType::Bool)
      .Default(std::nullopt);
}

StringRef bnb::torchDtypeName(DType dt) {
  switch (dt) {
  case DType::F16:
    return "float16";
  case DType::BF16:
    return "bfloat16";
  case DType::F32:
    return "float32";
  case DType::F64:
    return "float64";
  case DType::I8:
    return "int8";
  case DType::U8:
    return "uint8";
  case DType::I16:
    return "int16";
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  case DType::Bool:
    return "bool";
  }
  llvm_unreachable("unknown dtype");
}

std::optional<DType> bnb::parseTorchDtype(StringRef name) {
  name.consume_front("torch.");
  return llvm::StringSwitch<std::optional<DType>>(name)
      .Cases({"float16", "half"}, DType::F16)
      .Case("bfloat16", DType::BF16)
      .Cases({"float32", "float"}, DType::F32)
      .Cases({"float64", "double"}, DType::F64)
      .Case("int8", DType::I8)
      .Case("uint8", DType::U8)
      .Cases({"int16", "short"}, DType::I16)
      .Cases({"int32", "int"}, DType::I32)
      .Cases({"int64", "long"}, DType::I64)
      .Case("bool", DType::Bool)
      .Default(std::nullopt);
}

namespace {
template <typename T> T loadUnaligned(const void *data, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char *>(data) + i * sizeof(T),
              sizeof(T));
  return v;
}

template <typename T> void storeUnaligned(void *data, size_t i, T v) {
  std::memcpy(static_cast<unsigned char *>(data) + i * sizeof(T), &v,
              sizeof(T));
}

/// Rounds to nearest even and saturates to [lo, hi]; NaN gives 0. Compares in
/// double, where every bound of the integer types up to 32 bits is exact, so
/// no out-of-range float-to-integer conversion can happen.
template <typename T> T saturatingRound(float v) {
  if (std::isnan(v))
    return 0;
  double r = std::nearbyint(static_cast<double>(v));
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (r <= lo)
    return std::numeric_limits<T>::min();
  // For int64 `hi` rounds up to 2^63, so `r >= hi` also catches r == 2^63.
  if (r >= hi)
    return std::numeric_limits<T>::max();
  return static_cast<T>(r);
}
} // namespace

float bnb::loadAsFloat(const void *data, DType dt, size_t i) {
  switch (dt) {
  case DType::F16:
    return halfToFloat(loadUnaligned<uint16_t>(data, i));
  case DType::BF16:
    return bfloat16ToFloat(loadUnaligned<uint16_t>(data, i));
  case DType::F32:
    return loadUnaligned<float>(data, i);
  case DType::F64:
    return static_cast<float>(loadUnaligned<double>(data, i));
  case DType::I8:
    return static_cast<float>(loadUnaligned<int8_t>(data, i));
  case DType::U8:
    return static_cast<float>(loadUnaligned<uint8_t>(data, i));
  case DType::I16:
    return static_cast<float>(loadUnaligned<int16_t>(data, i));
  case DType::I32:
    return static_cast<float>(loadUnaligned<int32_t>(data, i));
  case DType::I64:
    return static_cast<float>(loadUnaligned<int64_t>(data, i));
  case DType::Bool:
    return loadUnaligned<uint8_t>(data, i) ? 1.0f : 0.0f;
  }
  llvm_unreachable("unknown dtype");
}

void bnb::storeFromFloat(void *data, DType dt, size_t i, float v) {
  switch (dt) {
  case DType::F16:
    return storeUnaligned<uint16_t>(data, i, floatToHalf(v));
  case DType::BF16:
    return storeUnaligned<uint16_t>(data, i, floatToBFloat16(v));
  case DType::F32:
    return storeUnaligned<float>(data, i, v);
  case DType::F64:
    return storeUnaligned<double>(data, i, static_cast<double>(v));
  case DType::I8:
    return storeUnaligned<int8_t>(data, i, saturatingRound<int8_t>(v));
  case DType::U8:
    return storeUnaligned<uint8_t>(data, i, saturatingRound<uint8_t>(v));
  case DType::I16:
    return storeUnaligned<int16_t>(data, i, saturatingRound<int16_t>(v));
  case DType::I32:
    return storeUnaligned<int32_t>(data, i, saturatingRound<int32_t>(v));
  case DType::I64:
    return storeUnaligned<int64_t>(data, i, saturatingRound<int64_t>(v));
  case DType::Bool:
    return storeUnaligned<uint8_t>(data, i, v != 0.0f ? 1 : 0);
  }
  llvm_unreachable("unknown dtype");
}

void bnb::convertElements(const void *src, DType srcDt, void *dst,
                                 DType dstDt, size_t n) {
  if (srcDt == dstDt) {
    std::memmove(dst, src, n * dtypeSize(srcDt));
    return;
  }
  for (size_t i = 0; i < n; ++i)
    storeFromFloat(dst, dstDt, i, loadAsFloat(src, srcDt, i));
}

namespace {
/// Counts from the bit patterns: exponent all ones, NaN if the mantissa is
/// not zero. 32-bit counters per chunk keep the loop vectorizable.
template <typename Bits>
NonFiniteCounts countNonFiniteBits(const unsigned char *bytes, size_t n,
                                   uint64_t exponentMask) {
  NonFiniteCounts counts;
  const Bits magnitudeMask = std::numeric_limits<Bits>::max() >> 1;
  const Bits exponent = static_cast<Bits>(exponentMask);
  constexpr size_t chunk = size_t(1) << 30;
  for (size_t begin = 0; begin < n; begin += chunk) {
    size_t count = std::min(chunk, n - begin);
    const unsigned char *p = bytes + begin * sizeof(Bits);
    uint32_t nans = 0, infinities = 0;
    for (size_t i = 0; i < count; ++i) {
      Bits v;
      std::memcpy(&v, p + i * sizeof(Bits), sizeof(Bits));
      Bits magnitude = static_cast<Bits>(v & magnitudeMask);
      nans += magnitude > exponent ? 1u : 0u;
      infinities += magnitude == exponent ? 1u : 0u;
    }
    counts.nans += nans;
    counts.infinities += infinities;
  }
  return counts;
}
} // namespace

NonFiniteCounts bnb::countNonFinite(const void *data, DType dt,
                                           size_t n) {
  const unsigned char *bytes = static_cast<const unsigned char *>(data);
  switch (dt) {
  case DType::F16:
    return countNonFiniteBits<uint16_t>(bytes, n, 0x7c00u);
  case DType::BF16:
    return countNonFiniteBits<uint16_t>(bytes, n, 0x7f80u);
  case DType::F32:
    return countNonFiniteBits<uint32_t>(bytes, n, 0x7f800000u);
  case DType::F64:
    return countNonFiniteBits<uint64_t>(bytes, n, 0x7ff0000000000000ull);
  default:
    return {};
  }
}
