//===- Int8.cpp - LLM.int8() numerics -------------------------------------===//

#include "bnb/Quant/Int8.h"
#include "bnb/Support/Float16.h"
#include "bnb/Quant/X86Kernels.h"

#include "llvm/Support/ThreadPool.h"

#include <cassert>
#include <cmath>
#include <cstring>

using namespace bnb;
using namespace bnb::quant;

int8_t bnb::quant::roundToInt8(float v) {
  int32_t q;
  if (std::isnan(v))
    q = 0;
  else if (v >= 2147483648.0f)
    q = INT32_MAX;
  else if (v < -2147483648.0f)
    q = INT32_MIN;
  else
    q = static_cast<int32_t>(std::nearbyint(v));
  // Truncation to the low byte, as the kernel's int -> int8_t store does.
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint32_t>(q)));
}

namespace {

/// Quantizes rows [r0, r1); `load(r, c)` returns the fp16 value as a float.
template <typename Load>
void quantizeRows(Load load, int64_t r0, int64_t r1, int64_t cols,
                  float threshold, int8_t *out, float *rowStats) {
  bool sparse = threshold > 0.0f;
  float thresholdHalf = halfToFloat(floatToHalf(threshold));
  for (int64_t r = r0; r < r1; ++r) {
    float absmax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      float a = std::fabs(load(r, c));
      // NaN fails both comparisons and never becomes the maximum.
      if (a > absmax && (!sparse || a < thresholdHalf))
        absmax = a;
    }
    rowStats[r] = absmax;
    float scale = int8Scale(absmax);
    int8_t *dst = out + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      float v = load(r, c);
      dst[c] =
          sparse && !(std::fabs(v) < threshold) ? 0 : roundToInt8(v * scale);
    }
  }
}

template <typename Load>
std::vector<int64_t> outlierColumnsWith(Load load, int64_t rows, int64_t cols,
                                        float threshold) {
  std::vector<int64_t> columns;
  if (!(threshold > 0.0f))
    return columns;
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r)
      if (std::fabs(load(r, c)) >= threshold) {
        columns.push_back(c);
        break;
      }
  return columns;
}

template <typename Load>
void quantizeRowwiseWith(Load load, int64_t rows, int64_t cols, float threshold,
                         int8_t *out, float *rowStats,
                         llvm::ThreadPoolInterface *pool) {
  assert(!(threshold < 0.0f) && "threshold must be >= 0");
  int64_t rowsPerTask =
      std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(cols, 1));
  if (!pool || rows <= rowsPerTask) {
    quantizeRows(load, 0, rows, cols, threshold, out, rowStats);
  } else {
    llvm::ThreadPoolTaskGroup group(*pool);
    for (int64_t r0 = 0; r0 < rows; r0 += rowsPerTask) {
      int64_t r1 = std::min(rows, r0 + rowsPerTask);
      group.async([&, r0, r1] {
        quantizeRows(load, r0, r1, cols, threshold, out, rowStats);
      });
    }
    group.wait();
  }
  // The Python wrapper zeroes outlier columns in every row (for one row the
  // kernel already did).
  for (int64_t c : outlierColumnsWith(load, rows, cols, threshold))
    for (int64_t r = 0; r < rows; ++r)
      out[r * cols + c] = 0;
}

} // namespace

void bnb::quant::quantizeRowwise(const uint16_t *f16, int64_t rows,
                                 int64_t cols, float threshold, int8_t *out,
                                 float *rowStats) {
  quantizeRowwiseWith(
      [f16, cols](int64_t r, int64_t c) {
        return halfToFloat(f16[r * cols + c]);
      },
      rows, cols, threshold, out, rowStats, nullptr);
}

void bnb::quant::quantizeRowwise(const void *in, DType dt, int64_t rows,
                                 int64_t cols, float threshold, int8_t *out,
                                 float *rowStats,
                                 llvm::ThreadPoolInterface *pool) {
  // Without a threshold (the weight path) there are no outliers: the
  // AVX-512 rows compute the same bytes.
  if (!(threshold > 0.0f) && x86::supports(dt) && x86::available()) {
    int64_t rowsPerTask =
        std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(cols, 1));
    if (!pool || rows <= rowsPerTask) {
      x86::quantizeRowsInt8(in, dt, cols, 0, rows, out, rowStats);
      return;
    }
    llvm::ThreadPoolTaskGroup group(*pool);
    for (int64_t r0 = 0; r0 < rows; r0 += rowsPerTask) {
      int64_t r1 = std::min(rows, r0 + rowsPerTask);
      group.async(
          [=] { x86::quantizeRowsInt8(in, dt, cols, r0, r1, out, rowStats); });
    }
    group.wait();
    return;
  }
  quantizeRowwiseWith(
      [in, dt, cols](int64_t r, int64_t c) {
        float v = loadAsFloat(in, dt, static_cast<size_t>(r * cols + c));
        return dt == DType::F16 ? v : halfToFloat(floatToHalf(v));
      },
      rows, cols, threshold, out, rowStats, pool);
}

std::vector<int64_t> bnb::quant::outlierColumns(const uint16_t *f16,
                                                int64_t rows, int64_t cols,
                                                float threshold) {
  return outlierColumnsWith(
      [f16, cols](int64_t r, int64_t c) {
        return halfToFloat(f16[r * cols + c]);
      },
      rows, cols, threshold);
}

void bnb::quant::int8Matmul(const int8_t *a, const int8_t *b, int64_t m,
                            int64_t n, int64_t k, int32_t *c) {
  for (int64_t i = 0; i < m; ++i) {
    const int8_t *row = a + i * k;
    for (int64_t j = 0; j < n; ++j) {
      const int8_t *col = b + j * k;
      int64_t sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += static_cast<int32_t>(row[p]) * static_cast<int32_t>(col[p]);
      c[i * n + j] = static_cast<int32_t>(
          static_cast<uint32_t>(static_cast<uint64_t>(sum)));
    }
  }
}

void bnb::quant::dequantizeInt8(const int32_t *c, const float *rowStats,
                                const float *colStats, const uint16_t *biasF16,
                                int64_t m, int64_t n, uint16_t *outF16) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float scaled = static_cast<float>(c[i * n + j]) * rowStats[i];
      scaled = scaled * colStats[j];
      float bias = biasF16 ? halfToFloat(biasF16[j]) : 0.0f;
      outF16[i * n + j] =
          floatToHalf(std::fmaf(scaled, kInt8MatmulDequantScale, bias));
    }
}

void bnb::quant::dequantizeInt8Weight(const int8_t *cb, const float *scb,
                                      int64_t rows, int64_t cols, float *out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float v = static_cast<float>(cb[r * cols + c]) * scb[r];
      out[r * cols + c] = v * kInt8WeightDequantScale;
    }
}
