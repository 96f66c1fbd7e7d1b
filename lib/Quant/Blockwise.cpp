//===- Blockwise.cpp - NF4/FP4 and 8-bit blockwise quantization -----------===//
//
// The optimized paths convert one block at a time into a float buffer, take
// the absmax with integer operations on the bit patterns (for non-negative
// floats the integer order is the numeric order, and NaN patterns are easy to
// exclude), and encode with branch-free comparison counts, so that GCC
// vectorizes every inner loop. Blocks are independent; they are spread over
// a thread pool in chunks of about kTaskElements elements. On AVX-512 CPUs
// the full blocks of F16/BF16/F32 inputs go to the hand-vectorized kernels
// of X86Kernels.h instead (same bytes); the partial last block, other dtypes
// and other CPUs stay on these loops.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/Blockwise.h"
#include "bnb/Quant/X86Kernels.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/ThreadPool.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

using namespace bnb;
using namespace bnb::quant;

namespace {

/// The largest blocksize; block buffers live on the stack.
constexpr size_t kMaxBlocksize = 4096;

// The block kernels are plain loops GCC vectorizes; on x86-64 Linux it also
// emits AVX2 and AVX-512 versions of them, picked at load time by the CPU
// (function multi-versioning). Results are identical in every version: the
// loops only compare, select and multiply, and -ffp-contract=off keeps FMA
// out.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&         \
    defined(__linux__)
#define BNB_VECTOR_CLONES                                                      \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#define BNB_ALWAYS_INLINE __attribute__((always_inline))
#else
#define BNB_VECTOR_CLONES
#define BNB_ALWAYS_INLINE
#endif

/// Elements per pool task: large enough to amortize scheduling, small enough
/// to balance two cores on the smallest weights.
constexpr size_t kTaskElements = size_t(1) << 16;

bool isPowerOfTwoIn(int64_t v, int64_t lo, int64_t hi) {
  return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

/// Block buffers are sized for kMaxBlocksize, so a bad blocksize is fatal
/// even in builds without assertions.
void requireBlocksize(bool valid, const char *function) {
  if (!valid)
    llvm::report_fatal_error(llvm::Twine(function) + ": invalid blocksize");
}

/// Runs fn(begin, end) over [0, count) in chunks of `perTask`, on `pool` when
/// there is more than one chunk.
template <typename Fn>
void parallelChunks(size_t count, size_t perTask,
                    llvm::ThreadPoolInterface *pool, Fn fn) {
  perTask = std::max<size_t>(perTask, 1);
  if (!pool || count <= perTask) {
    fn(size_t(0), count);
    return;
  }
  llvm::ThreadPoolTaskGroup group(*pool);
  for (size_t begin = 0; begin < count; begin += perTask) {
    size_t end = std::min(count, begin + perTask);
    group.async([&fn, begin, end] { fn(begin, end); });
  }
  group.wait();
}

/// Loads `count` elements of `DT` from possibly unaligned `src` as floats.
template <DType DT>
void loadFloats(const unsigned char *src, size_t count, float *dst) {
  if constexpr (DT == DType::F16) {
    halfToFloatArray(src, dst, count);
  } else if constexpr (DT == DType::BF16) {
    bfloat16ToFloatArray(src, dst, count);
  } else if constexpr (DT == DType::F32) {
    std::memcpy(dst, src, count * sizeof(float));
  } else {
    llvm_unreachable("generic loads go through loadFloatsGeneric");
  }
}

/// The block absmax of the CUDA kernels (see Blockwise.h): the largest |v|
/// over non-NaN elements, at least 0 for a partial block (its zero padding
/// takes part), -FLT_MAX for a full block without a non-NaN element.
BNB_VECTOR_CLONES
float blockAbsmax(const float *v, size_t count, bool partial) {
  // A signed max over the magnitude bits, NaN mapped to -1: one reduction
  // the vectorizer handles.
  int32_t best = -1;
  for (size_t i = 0; i < count; ++i) {
    int32_t magnitude = static_cast<int32_t>(floatBits(v[i]) & 0x7fffffffu);
    int32_t candidate = magnitude > 0x7f800000 ? -1 : magnitude;
    best = candidate > best ? candidate : best;
  }
  if (best < 0)
    return partial ? 0.0f : -FLT_MAX;
  return floatFromBits(static_cast<uint32_t>(best));
}

/// Block-at-a-time loop shared by the 4-bit, 8-bit and absmax-only paths:
/// calls body(block, values, count, absmax) for blocks [b0, b1).
template <typename Loader, typename Body>
void forBlocks(Loader load, size_t n, size_t blocksize, size_t b0, size_t b1,
               Body body) {
  alignas(64) float values[kMaxBlocksize];
  for (size_t b = b0; b < b1; ++b) {
    size_t start = b * blocksize;
    size_t count = std::min(blocksize, n - start);
    load(start, count, values);
    float absmax = blockAbsmax(values, count, count < blocksize);
    body(b, values, count, absmax);
  }
}

/// Inlined into each multi-versioned caller so it is compiled for its ISA.
template <QuantType QT>
BNB_ALWAYS_INLINE inline void encode4bitBlockImpl(const float *values,
                                                  size_t count, float absmax,
                                                  uint8_t *dst) {
  alignas(64) uint8_t codes[kMaxBlocksize];
  float inv = reciprocal(absmax);
  for (size_t i = 0; i < count; ++i) {
    float x = values[i] * inv;
    codes[i] = QT == QuantType::NF4 ? quantizeNF4(x) : quantizeFP4(x);
  }
  size_t pairs = count / 2;
  for (size_t p = 0; p < pairs; ++p)
    dst[p] = static_cast<uint8_t>((codes[2 * p] << 4) | codes[2 * p + 1]);
  if (count & 1) {
    float pad = 0.0f * inv;
    uint8_t padCode =
        QT == QuantType::NF4 ? quantizeNF4(pad) : quantizeFP4(pad);
    dst[pairs] = static_cast<uint8_t>((codes[count - 1] << 4) | padCode);
  }
}

BNB_VECTOR_CLONES
void encodeNF4Block(const float *values, size_t count, float absmax,
                    uint8_t *dst) {
  encode4bitBlockImpl<QuantType::NF4>(values, count, absmax, dst);
}

BNB_VECTOR_CLONES
void encodeFP4Block(const float *values, size_t count, float absmax,
                    uint8_t *dst) {
  encode4bitBlockImpl<QuantType::FP4>(values, count, absmax, dst);
}

/// Dispatches `fn(loader)` on the input dtype with a loader specialized for
/// it, so the per-element work never goes through a dtype switch.
template <typename Fn> void withLoader(const void *in, DType dt, Fn fn) {
  const unsigned char *bytes = static_cast<const unsigned char *>(in);
  switch (dt) {
  case DType::F16:
    return fn([bytes](size_t start, size_t count, float *dst) {
      loadFloats<DType::F16>(bytes + 2 * start, count, dst);
    });
  case DType::BF16:
    return fn([bytes](size_t start, size_t count, float *dst) {
      loadFloats<DType::BF16>(bytes + 2 * start, count, dst);
    });
  case DType::F32:
    return fn([bytes](size_t start, size_t count, float *dst) {
      loadFloats<DType::F32>(bytes + 4 * start, count, dst);
    });
  default:
    return fn([in, dt](size_t start, size_t count, float *dst) {
      for (size_t i = 0; i < count; ++i)
        dst[i] = loadAsFloat(in, dt, start + i);
    });
  }
}

/// The number of leading blocks the AVX-512 kernels quantize: every full
/// block when the CPU, the dtype and the blocksize allow, else none. The
/// partial last block always takes the portable path.
size_t fullBlocksForKernels(DType dt, size_t n, size_t blocksize) {
  if (blocksize % 16 != 0 || !x86::supports(dt) || !x86::available())
    return 0;
  return n / blocksize;
}

size_t blocksPerTask(int64_t blocksize) {
  return std::max<size_t>(1, kTaskElements / static_cast<size_t>(blocksize));
}

} // namespace

bool bnb::quant::isValid4bitBlocksize(int64_t blocksize) {
  return isPowerOfTwoIn(blocksize, 32, 4096);
}

bool bnb::quant::isValidBlockwiseBlocksize(int64_t blocksize) {
  return isPowerOfTwoIn(blocksize, 64, 4096);
}

namespace {
/// values[k + 1] = f32((kDynamicMap[k] + kDynamicMap[k + 1]) * 0.5f), the
/// midpoints the kernel computes on the fly (addition commutes, so the
/// kernel's (upper + value) and (lower + value) are these values), between
/// the sentinels values[0] = -inf and values[256] = +inf that make every
/// index the search can form valid.
struct DynamicMidpoints {
  float values[257];
  DynamicMidpoints() {
    values[0] = -INFINITY;
    for (int k = 0; k < 255; ++k)
      values[k + 1] = (kDynamicMap[k] + kDynamicMap[k + 1]) * 0.5f;
    values[256] = INFINITY;
  }
};
const DynamicMidpoints kDynamicMidpoints;
} // namespace

namespace {
/// The CUDA kernel's dQuantize: a 7-step binary search from index 127 that
/// ends on an even pivot p bracketed by p - 1 and p + 1 (written here with
/// selects instead of branches, so blocks of it vectorize with gathers), then
/// a comparison with the f32 midpoint towards the neighbour on x's side. At
/// p == 0 the kernel's lower neighbour is code[0] itself, and either way the
/// result is 0, which the -inf sentinel gives.
BNB_ALWAYS_INLINE inline uint8_t quantizeDynamicImpl(float x) {
  // Unrolled by hand: the vectorizer does not handle the inner loop.
  int pivot = 127;
  pivot += x > kDynamicMap[pivot] ? 64 : -64;
  pivot += x > kDynamicMap[pivot] ? 32 : -32;
  pivot += x > kDynamicMap[pivot] ? 16 : -16;
  pivot += x > kDynamicMap[pivot] ? 8 : -8;
  pivot += x > kDynamicMap[pivot] ? 4 : -4;
  pivot += x > kDynamicMap[pivot] ? 2 : -2;
  pivot += x > kDynamicMap[pivot] ? 1 : -1;
  int upper = x > kDynamicMidpoints.values[pivot + 1] ? pivot + 1 : pivot;
  int lower = x < kDynamicMidpoints.values[pivot] ? pivot - 1 : pivot;
  return static_cast<uint8_t>(x > kDynamicMap[pivot] ? upper : lower);
}

BNB_VECTOR_CLONES
void encodeDynamicBlock(const float *values, size_t count, float absmax,
                        uint8_t *dst) {
  float inv = reciprocal(absmax);
  for (size_t i = 0; i < count; ++i)
    dst[i] = quantizeDynamicImpl(values[i] * inv);
}
} // namespace

uint8_t bnb::quant::quantizeDynamic(float x) { return quantizeDynamicImpl(x); }

void bnb::quant::computeAbsmax(const void *in, DType dt, size_t n,
                               int64_t blocksize, float *absmax,
                               llvm::ThreadPoolInterface *pool) {
  requireBlocksize(isPowerOfTwoIn(blocksize, 1, kMaxBlocksize),
                   "computeAbsmax");
  size_t bs = static_cast<size_t>(blocksize);
  size_t fastEnd = fullBlocksForKernels(dt, n, bs);
  withLoader(in, dt, [&](auto load) {
    parallelChunks(numBlocks(n, blocksize), blocksPerTask(blocksize), pool,
                   [&](size_t b0, size_t b1) {
                     size_t split = std::clamp(fastEnd, b0, b1);
                     if (split > b0)
                       x86::absmaxBlocks(in, dt, bs, b0, split, absmax);
                     forBlocks(load, n, bs, split, b1,
                               [&](size_t b, const float *, size_t, float m) {
                                 absmax[b] = m;
                               });
                   });
  });
}

void bnb::quant::quantize4bit(const void *in, DType dt, size_t n, QuantType qt,
                              int64_t blocksize, uint8_t *packed, float *absmax,
                              llvm::ThreadPoolInterface *pool) {
  requireBlocksize(isValid4bitBlocksize(blocksize), "quantize4bit");
  size_t bs = static_cast<size_t>(blocksize);
  size_t fastEnd = fullBlocksForKernels(dt, n, bs);
  withLoader(in, dt, [&](auto load) {
    auto run = [&](auto encode) {
      parallelChunks(numBlocks(n, blocksize), blocksPerTask(blocksize), pool,
                     [&](size_t b0, size_t b1) {
                       size_t split = std::clamp(fastEnd, b0, b1);
                       if (split > b0)
                         x86::quantize4bitBlocks(in, dt, qt, bs, b0, split,
                                                 packed, absmax);
                       forBlocks(load, n, bs, split, b1,
                                 [&](size_t b, const float *values,
                                     size_t count, float m) {
                                   absmax[b] = m;
                                   // Blocks have an even size, so block b
                                   // starts at byte b * bs / 2.
                                   encode(values, count, m,
                                          packed + b * (bs / 2));
                                 });
                     });
    };
    if (qt == QuantType::NF4)
      run(encodeNF4Block);
    else
      run(encodeFP4Block);
  });
}

void bnb::quant::quantize4bitScalar(const void *in, DType dt, size_t n,
                                    QuantType qt, int64_t blocksize,
                                    uint8_t *packed, float *absmax) {
  requireBlocksize(isValid4bitBlocksize(blocksize), "quantize4bitScalar");
  size_t bs = static_cast<size_t>(blocksize);
  std::memset(packed, 0, packedSize(n));
  for (size_t b = 0, nb = numBlocks(n, blocksize); b < nb; ++b) {
    size_t start = b * bs, end = std::min(n, start + bs);
    // The kernel: local_abs_max = -FLT_MAX, fmaxf over the block's values
    // (CUDA's fmaxf ignores NaN); a partial block's padding zeros take part.
    // NaN is skipped explicitly: glibc's fmaxf returns NaN for a signaling
    // NaN operand (an fp16 sNaN converts to an f32 sNaN).
    float m = -FLT_MAX;
    for (size_t e = start; e < end; ++e) {
      float a = std::fabs(loadAsFloat(in, dt, e));
      if (!std::isnan(a))
        m = std::fmax(m, a);
    }
    if (end - start < bs)
      m = std::fmax(m, 0.0f);
    absmax[b] = m;
    float inv = reciprocal(m);
    for (size_t e = start; e < end + (end - start) % 2; ++e) {
      float a = e < end ? loadAsFloat(in, dt, e) : 0.0f;
      uint8_t code = quantize4bitValue(qt, a * inv);
      packed[e / 2] |= static_cast<uint8_t>(e % 2 ? code : code << 4);
    }
  }
}

namespace {
template <typename Store>
void dequantize4bitWith(const uint8_t *packed, const float *absmax, size_t n,
                        const float *table, size_t bs,
                        llvm::ThreadPoolInterface *pool, Store store) {
  // Chunks hold whole bytes: an even number of elements.
  size_t perTask = kTaskElements;
  parallelChunks(n, perTask, pool, [&](size_t e0, size_t e1) {
    for (size_t e = e0; e < e1; ++e) {
      uint8_t byte = packed[e / 2];
      uint8_t code = e % 2 ? (byte & 0xfu) : (byte >> 4);
      store(e, table[code] * absmax[e / bs]);
    }
  });
}
} // namespace

void bnb::quant::dequantize4bit(const uint8_t *packed, const float *absmax,
                                size_t n, QuantType qt, int64_t blocksize,
                                DType outDt, void *out,
                                llvm::ThreadPoolInterface *pool) {
  requireBlocksize(blocksize > 0, "dequantize");
  const float *table = codeTable(qt);
  size_t bs = static_cast<size_t>(blocksize);
  unsigned char *bytes = static_cast<unsigned char *>(out);
  switch (outDt) {
  case DType::F32:
    return dequantize4bitWith(
        packed, absmax, n, table, bs, pool,
        [bytes](size_t e, float v) { std::memcpy(bytes + 4 * e, &v, 4); });
  case DType::F16:
    return dequantize4bitWith(packed, absmax, n, table, bs, pool,
                              [bytes](size_t e, float v) {
                                uint16_t h = floatToHalf(v);
                                std::memcpy(bytes + 2 * e, &h, 2);
                              });
  case DType::BF16:
    return dequantize4bitWith(packed, absmax, n, table, bs, pool,
                              [bytes](size_t e, float v) {
                                uint16_t h = floatToBFloat16(v);
                                std::memcpy(bytes + 2 * e, &h, 2);
                              });
  default:
    return dequantize4bitWith(
        packed, absmax, n, table, bs, pool,
        [out, outDt](size_t e, float v) { storeFromFloat(out, outDt, e, v); });
  }
}

void bnb::quant::quantizeBlockwise(const void *in, DType dt, size_t n,
                                   int64_t blocksize, uint8_t *codes,
                                   float *absmax,
                                   llvm::ThreadPoolInterface *pool) {
  requireBlocksize(isValidBlockwiseBlocksize(blocksize), "quantizeBlockwise");
  size_t bs = static_cast<size_t>(blocksize);
  size_t fastEnd = fullBlocksForKernels(dt, n, bs);
  withLoader(in, dt, [&](auto load) {
    parallelChunks(
        numBlocks(n, blocksize), blocksPerTask(blocksize), pool,
        [&](size_t b0, size_t b1) {
          size_t split = std::clamp(fastEnd, b0, b1);
          if (split > b0)
            x86::quantizeDynamicBlocks(in, dt, bs, b0, split, codes, absmax);
          forBlocks(load, n, bs, split, b1,
                    [&](size_t b, const float *values, size_t count, float m) {
                      absmax[b] = m;
                      encodeDynamicBlock(values, count, m, codes + b * bs);
                    });
        });
  });
}

void bnb::quant::dequantizeBlockwise(const uint8_t *codes, const float *absmax,
                                     size_t n, int64_t blocksize, DType outDt,
                                     void *out) {
  requireBlocksize(blocksize > 0, "dequantize");
  size_t bs = static_cast<size_t>(blocksize);
  for (size_t e = 0; e < n; ++e)
    storeFromFloat(out, outDt, e, kDynamicMap[codes[e]] * absmax[e / bs]);
}

float bnb::quant::absmaxMean(const float *absmax, size_t n) {
  if (n == 0)
    return std::nanf("");
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i)
    sum += static_cast<double>(absmax[i]);
  return static_cast<float>(sum / static_cast<double>(n));
}

NestedAbsmax bnb::quant::doubleQuantize(const float *absmax, size_t nblocks,
                                        llvm::ThreadPoolInterface *pool) {
  NestedAbsmax result;
  result.offset = absmaxMean(absmax, nblocks);
  std::vector<float> centered(nblocks);
  for (size_t i = 0; i < nblocks; ++i)
    centered[i] = absmax[i] - result.offset;
  result.codes.resize(nblocks);
  result.nestedAbsmax.resize(numBlocks(nblocks, kNestedBlocksize));
  quantizeBlockwise(centered.data(), DType::F32, nblocks, kNestedBlocksize,
                    result.codes.data(), result.nestedAbsmax.data(), pool);
  return result;
}

void bnb::quant::reconstructAbsmax(const uint8_t *codes,
                                   const float *nestedAbsmax, float offset,
                                   size_t nblocks, float *out) {
  // Built with -ffp-contract=off, so the product is rounded before the add.
  for (size_t i = 0; i < nblocks; ++i) {
    float scaled = kDynamicMap[codes[i]] * nestedAbsmax[i / kNestedBlocksize];
    out[i] = scaled + offset;
  }
}
