//===- Reference.cpp - golden-model linear layers -------------------------===//

#include "bnb/Quant/Reference.h"
#include "bnb/Support/Float16.h"
#include "bnb/Quant/Int8.h"

#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {
/// `count` elements of `src` (`srcDt`) converted to `dstDt`, as a byte
/// buffer.
std::vector<uint8_t> castTo(const void *src, DType srcDt, size_t count,
                            DType dstDt) {
  std::vector<uint8_t> out(count * dtypeSize(dstDt));
  convertElements(src, srcDt, out.data(), dstDt, count);
  return out;
}
} // namespace

void bnb::quant::referenceGemm(const void *a, const void *b, DType dt,
                               int64_t m, int64_t n, int64_t k,
                               const void *bias, DType outDt, void *y) {
  // Widen both operands once; products of f16/bf16 values are exact in f32,
  // so fmaf and a separate multiply agree for them.
  std::vector<float> af(static_cast<size_t>(m * k)),
      bf(static_cast<size_t>(n * k));
  for (size_t i = 0; i < af.size(); ++i)
    af[i] = loadAsFloat(a, dt, i);
  for (size_t i = 0; i < bf.size(); ++i)
    bf[i] = loadAsFloat(b, dt, i);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      const float *ar = af.data() + i * k, *br = bf.data() + j * k;
      for (int64_t p = 0; p < k; ++p)
        acc = std::fmaf(ar[p], br[p], acc);
      if (bias)
        acc = acc + loadAsFloat(bias, dt, static_cast<size_t>(j));
      storeFromFloat(y, outDt, static_cast<size_t>(i * n + j), acc);
    }
}

void bnb::quant::linearInt8Reference(const void *x, DType xdt, int64_t m,
                                     int64_t k, const int8_t *cb,
                                     const float *scb, int64_t n,
                                     const void *bias, DType biasDt,
                                     float threshold, void *y) {
  size_t mk = static_cast<size_t>(m * k), mn = static_cast<size_t>(m * n);
  // Activations are always quantized from their fp16 cast.
  std::vector<uint16_t> a16(mk);
  convertElements(x, xdt, a16.data(), DType::F16, mk);
  std::vector<int64_t> outliers;
  if (threshold > 0.0f)
    outliers = outlierColumns(a16.data(), m, k, threshold);
  std::vector<int8_t> ca(mk);
  std::vector<float> sca(static_cast<size_t>(m));
  quantizeRowwise(a16.data(), m, k, threshold, ca.data(), sca.data());

  std::vector<int32_t> c(mn);
  int8Matmul(ca.data(), cb, m, n, k, c.data());

  // Linear8bitLt casts the bias to the input dtype; the kernel fuses only an
  // fp16 bias, any other is added to the fp16 result in f32.
  std::vector<uint8_t> biasX;
  if (bias)
    biasX = castTo(bias, biasDt, static_cast<size_t>(n), xdt);
  bool fuseBias = bias && xdt == DType::F16;
  std::vector<uint16_t> biasF16(fuseBias ? static_cast<size_t>(n) : 0);
  if (fuseBias)
    std::memcpy(biasF16.data(), biasX.data(), biasX.size());
  std::vector<uint16_t> out16(mn);
  dequantizeInt8(c.data(), sca.data(), scb, fuseBias ? biasF16.data() : nullptr,
                 m, n, out16.data());
  if (bias && !fuseBias)
    for (size_t e = 0; e < mn; ++e)
      out16[e] = floatToHalf(halfToFloat(out16[e]) +
                             loadAsFloat(biasX.data(), xdt, e % n));
  // The kernel's fp16 result is cast to the activation dtype.
  std::vector<uint8_t> out = castTo(out16.data(), DType::F16, mn, xdt);
  if (outliers.empty()) {
    std::memcpy(y, out.data(), out.size());
    return;
  }

  // output.addmm(subA, subB): subA from the original activations, subB from
  // the dequantized int8 weight cast to the activation dtype.
  std::vector<float> weight(static_cast<size_t>(n * k));
  dequantizeInt8Weight(cb, scb, n, k, weight.data());
  size_t numOutliers = outliers.size();
  size_t itemSize = dtypeSize(xdt);
  std::vector<uint8_t> subA(static_cast<size_t>(m) * numOutliers * itemSize);
  std::vector<uint8_t> subB(static_cast<size_t>(n) * numOutliers * itemSize);
  for (int64_t i = 0; i < m; ++i)
    for (size_t o = 0; o < numOutliers; ++o)
      storeFromFloat(subA.data(), xdt, i * numOutliers + o,
                     loadAsFloat(x, xdt, i * k + outliers[o]));
  for (int64_t j = 0; j < n; ++j)
    for (size_t o = 0; o < numOutliers; ++o)
      storeFromFloat(subB.data(), xdt, j * numOutliers + o,
                     weight[j * k + outliers[o]]);
  // cuBLAS computes alpha * (subA subB^T) + beta * out with f32 compute and
  // rounds once: the product sum first, then the add.
  std::vector<float> product(mn);
  referenceGemm(subA.data(), subB.data(), xdt, m, n,
                static_cast<int64_t>(numOutliers), nullptr, DType::F32,
                product.data());
  for (size_t e = 0; e < mn; ++e)
    storeFromFloat(y, xdt, e, product[e] + loadAsFloat(out.data(), xdt, e));
}

void bnb::quant::linearInt8FromFloatWeight(const void *x, DType xdt, int64_t m,
                                           int64_t k, const void *w, DType wdt,
                                           int64_t n, const void *bias,
                                           DType biasDt, float threshold,
                                           void *y) {
  std::vector<int8_t> cb(static_cast<size_t>(n * k));
  std::vector<float> scb(static_cast<size_t>(n));
  quantizeRowwise(w, wdt, n, k, 0.0f, cb.data(), scb.data());
  linearInt8Reference(x, xdt, m, k, cb.data(), scb.data(), n, bias, biasDt,
                      threshold, y);
}

void bnb::quant::linear4bitReference(const void *x, DType xdt, int64_t m,
                                     int64_t k, const uint8_t *packed,
                                     const float *absmax, QuantType qt,
                                     int64_t blocksize, int64_t n,
                                     const void *bias, DType biasDt,
                                     DType computeDt, void *y) {
  size_t mk = static_cast<size_t>(m * k), nk = static_cast<size_t>(n * k);
  size_t mn = static_cast<size_t>(m * n);
  std::vector<uint8_t> xc = castTo(x, xdt, mk, computeDt);
  std::vector<uint8_t> w(nk * dtypeSize(computeDt));
  dequantize4bit(packed, absmax, nk, qt, blocksize, computeDt, w.data());
  std::vector<uint8_t> biasC;
  if (bias)
    biasC = castTo(bias, biasDt, static_cast<size_t>(n), computeDt);
  std::vector<uint8_t> yc(mn * dtypeSize(computeDt));
  referenceGemm(xc.data(), w.data(), computeDt, m, n, k,
                bias ? biasC.data() : nullptr, computeDt, yc.data());
  convertElements(yc.data(), computeDt, y, xdt, mn);
}

void bnb::quant::linear4bitReferenceNested(
    const void *x, DType xdt, int64_t m, int64_t k, const uint8_t *packed,
    const uint8_t *absmaxCodes, const float *nestedAbsmax, float offset,
    QuantType qt, int64_t blocksize, int64_t n, const void *bias, DType biasDt,
    DType computeDt, void *y) {
  size_t nblocks = numBlocks(static_cast<size_t>(n * k), blocksize);
  std::vector<float> absmax(nblocks);
  reconstructAbsmax(absmaxCodes, nestedAbsmax, offset, nblocks, absmax.data());
  linear4bitReference(x, xdt, m, k, packed, absmax.data(), qt, blocksize, n,
                      bias, biasDt, computeDt, y);
}
