//===- X86Kernels.cpp - AVX-512 blockwise and row quantization ------------===//
//
// Every function here is compiled for AVX-512 through target attributes, so
// the rest of the library keeps its baseline ISA; available() guards the
// calls. The arithmetic mirrors the portable loops operation for operation
// (see X86Kernels.h), which the unit tests check byte for byte.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/X86Kernels.h"

#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/Float16.h"
#include "bnb/Quant/Int8.h"
#include "bnb/Quant/Tables.h"

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BNB_X86_KERNELS 1
// GCC 12 warns about the deliberately undefined registers inside its own
// AVX-512 intrinsics (_mm512_undefined_*) once they are inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

using namespace bnb;
using namespace bnb::quant;

#ifndef BNB_X86_KERNELS

bool x86::available() { return false; }
void x86::quantize4bitBlocks(const void *, DType, QuantType, size_t, size_t,
                             size_t, uint8_t *, float *) {
  std::abort();
}
void x86::quantizeDynamicBlocks(const void *, DType, size_t, size_t, size_t,
                                uint8_t *, float *) {
  std::abort();
}
void x86::absmaxBlocks(const void *, DType, size_t, size_t, size_t, float *) {
  std::abort();
}
void x86::quantizeRowsInt8(const void *, DType, int64_t, int64_t, int64_t,
                           int8_t *, float *) {
  std::abort();
}

#else

#define BNB_AVX512                                                             \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c")))

bool x86::available() {
  static const bool value = [] {
    const char *portable = std::getenv("BNB_QUANT_PORTABLE");
    if (portable && *portable && std::strcmp(portable, "0") != 0)
      return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
  }();
  return value;
}

namespace {

/// 16 elements of `DT` at `p` (unaligned) as floats, converted exactly.
template <DType DT> BNB_AVX512 inline __m512 load16(const unsigned char *p) {
  if constexpr (DT == DType::F16) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
  } else if constexpr (DT == DType::BF16) {
    __m512i wide = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  } else {
    return _mm512_loadu_ps(p);
  }
}

template <DType DT> constexpr size_t kElementBytes = DT == DType::F32 ? 4 : 2;

/// blockAbsmax of a full block: the largest magnitude bit pattern over the
/// non-NaN elements (NaN counts as -1), -FLT_MAX when there is none.
template <DType DT>
BNB_AVX512 inline float blockAbsmax(const unsigned char *p, size_t count) {
  const __m512i magnitudeMask = _mm512_set1_epi32(0x7fffffff);
  const __m512i infinity = _mm512_set1_epi32(0x7f800000);
  __m512i best = _mm512_set1_epi32(-1);
  for (size_t i = 0; i < count; i += 16) {
    __m512i magnitude = _mm512_and_si512(
        _mm512_castps_si512(load16<DT>(p + i * kElementBytes<DT>)),
        magnitudeMask);
    __mmask16 notNaN = _mm512_cmple_epi32_mask(magnitude, infinity);
    best = _mm512_mask_max_epi32(best, notNaN, best, magnitude);
  }
  int32_t top = _mm512_reduce_max_epi32(best);
  if (top < 0)
    return -FLT_MAX;
  return floatFromBits(static_cast<uint32_t>(top));
}

/// #{k : x > table[k]} for the first 2^steps - 1 entries of an ascending
/// `table`: a branch-free binary search, each step one strict comparison
/// with the threshold the scalar count would also compare against. NaN
/// compares false everywhere and gives 0.
template <int Steps>
BNB_AVX512 inline __m512i countAbove(__m512 x, __m512 table) {
  __m512i count = _mm512_setzero_si512();
  for (int s = 1 << (Steps - 1); s >= 1; s >>= 1) {
    __m512i probe = _mm512_add_epi32(count, _mm512_set1_epi32(s - 1));
    __mmask16 above =
        _mm512_cmp_ps_mask(x, _mm512_permutexvar_ps(probe, table), _CMP_GT_OQ);
    count = _mm512_mask_add_epi32(count, above, count, _mm512_set1_epi32(s));
  }
  return count;
}

/// The 4-bit codes of 16 normalized values, in 32-bit lanes.
template <QuantType QT>
BNB_AVX512 inline __m512i codes16(__m512 x, __m512 table) {
  if constexpr (QT == QuantType::NF4) {
    return countAbove<4>(x, table);
  } else {
    __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 magnitude = _mm512_castsi512_ps(_mm512_and_si512(
        _mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
    __m512i rank = countAbove<3>(magnitude, table);
    // fp4 magnitude code: ranks with bit 1 set flip bit 2 (see quantizeFP4).
    __m512i code = _mm512_xor_si512(
        rank,
        _mm512_slli_epi32(_mm512_and_si512(rank, _mm512_set1_epi32(2)), 1));
    return _mm512_mask_or_epi32(code, negative, code, _mm512_set1_epi32(8));
  }
}

/// Packs 16 codes (32-bit lanes) into 8 bytes, the even element in the high
/// nibble: in each 64-bit lane, (low << 4) | high lands in the low byte.
BNB_AVX512 inline void pack16(__m512i codes, uint8_t *dst) {
  __m512i pairs = _mm512_or_si512(_mm512_slli_epi64(codes, 4),
                                  _mm512_srli_epi64(codes, 32));
  _mm_storel_epi64(reinterpret_cast<__m128i *>(dst),
                   _mm512_cvtepi64_epi8(pairs));
}

/// The thresholds of QT in a register, padded with +inf (never probed).
template <QuantType QT> BNB_AVX512 inline __m512 thresholdTable() {
  alignas(64) float table[16];
  for (float &t : table)
    t = __builtin_inff();
  if constexpr (QT == QuantType::NF4)
    std::memcpy(table, kNF4Thresholds, sizeof(kNF4Thresholds));
  else
    std::memcpy(table, kFP4Thresholds, sizeof(kFP4Thresholds));
  return _mm512_load_ps(table);
}

template <DType DT, QuantType QT>
BNB_AVX512 void quantizeBlocks(const unsigned char *in, size_t blocksize,
                               size_t b0, size_t b1, uint8_t *packed,
                               float *absmax) {
  const __m512 table = thresholdTable<QT>();
  for (size_t b = b0; b < b1; ++b) {
    const unsigned char *block = in + b * blocksize * kElementBytes<DT>;
    float m = blockAbsmax<DT>(block, blocksize);
    absmax[b] = m;
    const __m512 inv = _mm512_set1_ps(reciprocal(m));
    uint8_t *dst = packed + b * (blocksize / 2);
    for (size_t i = 0; i < blocksize; i += 16) {
      __m512 x = _mm512_mul_ps(load16<DT>(block + i * kElementBytes<DT>), inv);
      pack16(codes16<QT>(x, table), dst + i / 2);
    }
  }
}

/// f32((kDynamicMap[k - 1] + kDynamicMap[k]) * 0.5f) at index k, between
/// -inf at 0 and +inf at 256: the midpoints quantizeDynamic compares with,
/// computed with the same expression.
struct Midpoints {
  float values[257];
  Midpoints() {
    values[0] = -__builtin_inff();
    for (int k = 0; k < 255; ++k)
      values[k + 1] = (kDynamicMap[k] + kDynamicMap[k + 1]) * 0.5f;
    values[256] = __builtin_inff();
  }
};
const Midpoints kMidpoints;

/// quantizeDynamic of 16 values: the same pivots, comparisons and selects,
/// the table reads done with gathers.
BNB_AVX512 inline __m512i dynamicCodes16(__m512 x) {
  __m512i pivot = _mm512_set1_epi32(127);
  for (int step = 64; step >= 1; step >>= 1) {
    __m512 entry = _mm512_i32gather_ps(pivot, kDynamicMap, 4);
    __mmask16 above = _mm512_cmp_ps_mask(x, entry, _CMP_GT_OQ);
    __m512i s = _mm512_set1_epi32(step);
    pivot = _mm512_mask_add_epi32(_mm512_sub_epi32(pivot, s), above, pivot, s);
  }
  const __m512i one = _mm512_set1_epi32(1);
  __m512 entry = _mm512_i32gather_ps(pivot, kDynamicMap, 4);
  __m512 upperMid =
      _mm512_i32gather_ps(_mm512_add_epi32(pivot, one), kMidpoints.values, 4);
  __m512 lowerMid = _mm512_i32gather_ps(pivot, kMidpoints.values, 4);
  __m512i upper = _mm512_mask_add_epi32(
      pivot, _mm512_cmp_ps_mask(x, upperMid, _CMP_GT_OQ), pivot, one);
  __m512i lower = _mm512_mask_sub_epi32(
      pivot, _mm512_cmp_ps_mask(x, lowerMid, _CMP_LT_OQ), pivot, one);
  return _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(x, entry, _CMP_GT_OQ),
                                 lower, upper);
}

template <DType DT>
BNB_AVX512 void dynamicBlocks(const unsigned char *in, size_t blocksize,
                              size_t b0, size_t b1, uint8_t *codes,
                              float *absmax) {
  for (size_t b = b0; b < b1; ++b) {
    const unsigned char *block = in + b * blocksize * kElementBytes<DT>;
    float m = blockAbsmax<DT>(block, blocksize);
    absmax[b] = m;
    const __m512 inv = _mm512_set1_ps(reciprocal(m));
    uint8_t *dst = codes + b * blocksize;
    for (size_t i = 0; i < blocksize; i += 16) {
      __m512 x = _mm512_mul_ps(load16<DT>(block + i * kElementBytes<DT>), inv);
      _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + i),
                       _mm512_cvtepi32_epi8(dynamicCodes16(x)));
    }
  }
}

template <DType DT>
BNB_AVX512 void absmaxOnly(const unsigned char *in, size_t blocksize, size_t b0,
                           size_t b1, float *absmax) {
  for (size_t b = b0; b < b1; ++b)
    absmax[b] =
        blockAbsmax<DT>(in + b * blocksize * kElementBytes<DT>, blocksize);
}

/// 16 elements as quantizeRowwise sees them: rounded to fp16 and back.
template <DType DT>
BNB_AVX512 inline __m512 loadAsHalf16(const unsigned char *p) {
  __m512 v = load16<DT>(p);
  if constexpr (DT == DType::F16)
    return v;
  else
    return _mm512_cvtph_ps(
        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

template <DType DT> float loadAsHalfScalar(const unsigned char *in, size_t i) {
  float v = loadAsFloat(in, DT, i);
  return DT == DType::F16 ? v : halfToFloat(floatToHalf(v));
}

template <DType DT>
BNB_AVX512 void int8Rows(const unsigned char *in, int64_t cols, int64_t r0,
                         int64_t r1, int8_t *out, float *rowStats) {
  const size_t n = static_cast<size_t>(cols);
  const size_t vectorEnd = n & ~size_t(15);
  const __m512i magnitudeMask = _mm512_set1_epi32(0x7fffffff);
  const __m512i infinity = _mm512_set1_epi32(0x7f800000);
  for (int64_t r = r0; r < r1; ++r) {
    size_t rowStart = static_cast<size_t>(r) * n;
    const unsigned char *row = in + rowStart * kElementBytes<DT>;
    // The row maximum starts at +0.0 and NaN never wins: an integer max
    // over magnitude bits with NaN lanes masked out.
    __m512i best = _mm512_setzero_si512();
    for (size_t c = 0; c < vectorEnd; c += 16) {
      __m512i magnitude = _mm512_and_si512(
          _mm512_castps_si512(loadAsHalf16<DT>(row + c * kElementBytes<DT>)),
          magnitudeMask);
      __mmask16 notNaN = _mm512_cmple_epi32_mask(magnitude, infinity);
      best = _mm512_mask_max_epi32(best, notNaN, best, magnitude);
    }
    float absmax =
        floatFromBits(static_cast<uint32_t>(_mm512_reduce_max_epi32(best)));
    for (size_t c = vectorEnd; c < n; ++c) {
      float a = std::fabs(loadAsHalfScalar<DT>(in, rowStart + c));
      if (a > absmax)
        absmax = a;
    }
    rowStats[r] = absmax;
    float scale = int8Scale(absmax);
    const __m512 scaleVec = _mm512_set1_ps(scale);
    const __m512 int32Limit = _mm512_set1_ps(2147483648.0f);
    int8_t *dst = out + rowStart;
    for (size_t c = 0; c < vectorEnd; c += 16) {
      __m512 v = _mm512_mul_ps(loadAsHalf16<DT>(row + c * kElementBytes<DT>),
                               scaleVec);
      // cvtps2dq rounds half to even in the default rounding mode, as
      // nearbyint does, and gives 0x80000000 (low byte 0) for NaN and
      // out-of-range values: right for NaN and v < -2^31; v >= 2^31
      // saturates to INT32_MAX (low byte 0xff) in roundToInt8.
      __m512i q = _mm512_cvtps_epi32(v);
      __mmask16 high = _mm512_cmp_ps_mask(v, int32Limit, _CMP_GE_OQ);
      q = _mm512_mask_mov_epi32(q, high, _mm512_set1_epi32(0x7fffffff));
      _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + c),
                       _mm512_cvtepi32_epi8(q));
    }
    for (size_t c = vectorEnd; c < n; ++c)
      dst[c] = roundToInt8(loadAsHalfScalar<DT>(in, rowStart + c) * scale);
  }
}

} // namespace

void x86::quantize4bitBlocks(const void *in, DType dt, QuantType qt,
                             size_t blocksize, size_t b0, size_t b1,
                             uint8_t *packed, float *absmax) {
  auto bytes = static_cast<const unsigned char *>(in);
  bool nf4 = qt == QuantType::NF4;
  switch (dt) {
  case DType::F16:
    return nf4 ? quantizeBlocks<DType::F16, QuantType::NF4>(
                     bytes, blocksize, b0, b1, packed, absmax)
               : quantizeBlocks<DType::F16, QuantType::FP4>(
                     bytes, blocksize, b0, b1, packed, absmax);
  case DType::BF16:
    return nf4 ? quantizeBlocks<DType::BF16, QuantType::NF4>(
                     bytes, blocksize, b0, b1, packed, absmax)
               : quantizeBlocks<DType::BF16, QuantType::FP4>(
                     bytes, blocksize, b0, b1, packed, absmax);
  case DType::F32:
    return nf4 ? quantizeBlocks<DType::F32, QuantType::NF4>(
                     bytes, blocksize, b0, b1, packed, absmax)
               : quantizeBlocks<DType::F32, QuantType::FP4>(
                     bytes, blocksize, b0, b1, packed, absmax);
  default:
    std::abort();
  }
}

void x86::quantizeDynamicBlocks(const void *in, DType dt, size_t blocksize,
                                size_t b0, size_t b1, uint8_t *codes,
                                float *absmax) {
  auto bytes = static_cast<const unsigned char *>(in);
  switch (dt) {
  case DType::F16:
    return dynamicBlocks<DType::F16>(bytes, blocksize, b0, b1, codes, absmax);
  case DType::BF16:
    return dynamicBlocks<DType::BF16>(bytes, blocksize, b0, b1, codes, absmax);
  case DType::F32:
    return dynamicBlocks<DType::F32>(bytes, blocksize, b0, b1, codes, absmax);
  default:
    std::abort();
  }
}

void x86::absmaxBlocks(const void *in, DType dt, size_t blocksize, size_t b0,
                       size_t b1, float *absmax) {
  auto bytes = static_cast<const unsigned char *>(in);
  switch (dt) {
  case DType::F16:
    return absmaxOnly<DType::F16>(bytes, blocksize, b0, b1, absmax);
  case DType::BF16:
    return absmaxOnly<DType::BF16>(bytes, blocksize, b0, b1, absmax);
  case DType::F32:
    return absmaxOnly<DType::F32>(bytes, blocksize, b0, b1, absmax);
  default:
    std::abort();
  }
}

void x86::quantizeRowsInt8(const void *in, DType dt, int64_t cols, int64_t r0,
                           int64_t r1, int8_t *out, float *rowStats) {
  auto bytes = static_cast<const unsigned char *>(in);
  switch (dt) {
  case DType::F16:
    return int8Rows<DType::F16>(bytes, cols, r0, r1, out, rowStats);
  case DType::BF16:
    return int8Rows<DType::BF16>(bytes, cols, r0, r1, out, rowStats);
  case DType::F32:
    return int8Rows<DType::F32>(bytes, cols, r0, r1, out, rowStats);
  default:
    std::abort();
  }
}

#endif // BNB_X86_KERNELS
