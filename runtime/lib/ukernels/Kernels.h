//===- Kernels.h - internal interface of the CPU microkernels ---*- C++ -*-===//
//
// Dispatch.cpp validates the descriptors, prepares per-call data and splits
// the output columns into ranges of whole kColumnTile tiles; a kernel set
// (one per instruction set) computes out[:, n0:n1) for a range. A kernel
// computes each output element in an order that depends only on the problem
// (never on n0/n1 beyond their being multiples of kColumnTile), so results
// do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_KERNELS_H
#define BNB_RUNTIME_LIB_UKERNELS_KERNELS_H

#include <cstddef>
#include "bnb/Support/Float16.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace bnb::rt::uk {

/// Output columns are split over threads in multiples of this many.
constexpr int64_t kColumnTile = 64;

/// Weight rows (output columns) of one packed GEMM panel.
constexpr int64_t kPanelWidth = 32;

/// At most this many rows of x take the GEMV path (in passes of up to four
/// rows over the weights); more take the GEMM path. Measured on a 30-layer
/// 135M model at 8 tokens: half the time of the panel GEMM, whose weight
/// transpose only pays off from about 16 rows (where AMX also starts). The
/// AVX512-BF16 GEMM starts earlier (KernelsAvx512Bf16Gemm.h).
constexpr int64_t kGemvMaxRows = 16;

/// Bytes of x that a GEMV pass over several rows of x keeps in L1 while it
/// streams the weights: beyond this it walks the weights in K-chunks whose
/// x fits. Four f32 rows at K = 4096 are 64 KiB, more than the 48 KiB L1
/// (measured: the four-row pass cost as much per row as the one-row one).
constexpr int64_t kGemvXBytesInL1 = 32 * 1024;

/// True when one row of x, `bytes` long as a batch-1 GEMV reads it, would not
/// stay in L1 beside the weight stream (half of kGemvXBytesInL1). The float
/// and int8 batch-1 GEMVs then read eight weight rows per load of x; shorter
/// rows are read one after another, as one sequential stream (KernelsSimd.h).
constexpr bool batch1XLeavesL1(int64_t bytes) {
  return bytes > kGemvXBytesInL1 / 2;
}

/// How far ahead of its current read position a weight-streaming GEMV
/// prefetches, in bytes. The hardware prefetchers stop at 4 KiB pages and a
/// 4-bit row is 2 KiB at K = 4096, so without a software prefetch every
/// other row starts cold: measured, the NF4 GEMV out of cache ran at less
/// than half the speed it reaches with it (docs/benchmarks.md).
constexpr int64_t kPrefetchBytes = 4096;

/// Prefetches the line `kPrefetchBytes` past `p` into L1. A hint: it never
/// faults, so it may point past the end of the weight.
inline void prefetchAhead(const void *p) {
  __builtin_prefetch(static_cast<const char *>(p) + kPrefetchBytes, 0, 3);
}

/// Instruction sets, in increasing order of preference.
/// Amx runs the avx512 kernels plus the AMX GEMM (KernelsAmx.h).
enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2, Amx = 3 };

/// Dtype codes, equal to bnbrt_uk_dtype.
enum : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

/// Bits of a float.
inline uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The 16-bit float conversions are lib/Quant's (header-only, no LLVM), so
// the microkernels round exactly as the numerics library does. They are
// inlined everywhere: an out-of-line copy compiled in an AVX-512 file could
// be picked by the linker for the portable code (checked: the Kernels*.o
// objects define no weak symbols).
using ::bnb::bfloat16ToFloat;
using ::bnb::floatToBFloat16;
using ::bnb::floatToHalf;
using ::bnb::halfToFloat;

/// The float of some bits.
inline float floatOf(uint32_t u) { return ::bnb::floatFromBits(u); }

/// Rounds `v` to compute dtype `compute` and back to f32.
inline float roundTo(float v, int compute) {
  if (compute == kF16)
    return halfToFloat(floatToHalf(v));
  if (compute == kBF16)
    return bfloat16ToFloat(floatToBFloat16(v));
  return v;
}

/// The absmax of a 4-bit block: a plain f32 array, or reconstructed from a
/// double quantization as f32(f32(code8[codes[b]] * nested[b / nbs]) +
/// offset). All ukernel sources are compiled with -ffp-contract=off, so the
/// product is rounded before the add.
struct NestedAbsmax;

struct AbsmaxSource {
  const float *absmax = nullptr;
  const uint8_t *codes = nullptr;
  const float *nested = nullptr;
  const float *code8 = nullptr;
  int64_t nestedBlocksize = 1;
  float offset = 0.0f;

  /// absmax[b].
  float get(int64_t b) const {
    if (absmax)
      return absmax[b];
    float product = code8[codes[b]] * nested[b / nestedBlocksize];
    return product + offset;
  }

  /// The absmax of blocks [block0, block0 + count): the stored array itself,
  /// or `dst` filled as get() would, by table lookup: `cache` holds the 256
  /// absmaxes of one nested block, built once for all the rows that share
  /// it (one 64-bit division per block cost the double-quantized f32 GEMV
  /// about a third, a multiply-add per block a further tenth).
  const float *range(int64_t block0, int64_t count, float *dst,
                     NestedAbsmax &cache) const;
};

/// The 256 absmaxes that nested block `nest` of an AbsmaxSource can give,
/// f32(f32(code8[c] * nested[nest]) + offset) for every code c.
struct NestedAbsmax {
  int64_t nest = -1;
  alignas(64) float value[256];

  /// Makes the table of nested block `n` of `s` (a no-op if it is current).
  void build(const AbsmaxSource &s, int64_t n) {
    if (nest == n)
      return;
    nest = n;
    const float scale = s.nested[n];
    // No branch: the compiler vectorizes it; -ffp-contract=off keeps the
    // two roundings.
    for (int c = 0; c < 256; ++c) {
      float product = s.code8[c] * scale;
      value[c] = product + s.offset;
    }
  }
};

inline const float *AbsmaxSource::range(int64_t block0, int64_t count,
                                        float *dst,
                                        NestedAbsmax &cache) const {
  if (absmax)
    return absmax + block0;
  const int64_t end = block0 + count;
  int64_t nest = block0 / nestedBlocksize;
  for (int64_t b = block0; b < end; ++nest) {
    const int64_t partEnd =
        std::min<int64_t>(end, (nest + 1) * nestedBlocksize);
    cache.build(*this, nest);
    for (; b < partEnd; ++b)
      dst[b - block0] = cache.value[codes[b]];
  }
  return dst;
}

/// A 4-bit linear: out [M, N] = x [M, K] * dequant(packed)^T.
struct Linear4bitProblem {
  float *out = nullptr;
  const float *x = nullptr;
  int64_t M = 0, N = 0, K = 0;
  const uint8_t *packed = nullptr;
  AbsmaxSource absmax;
  const float *codebook = nullptr;
  int64_t blocksize = 0;
  int compute = kF32;
  /// All 16 codebook entries are finite: a finite absmax then gives finite
  /// or infinite table entries, never NaN, and the SIMD bf16 rounding can
  /// skip its NaN fix-up.
  bool finiteCodebook = false;
  /// For the GEMV path, when fastPath(): x split into its even and odd
  /// elements, [M][K/2] each, made once per call by the dispatcher.
  const float *xEven = nullptr;
  const float *xOdd = nullptr;
  /// The same as bf16, for the AVX512-BF16 GEMV (KernelsAvx512Bf16.cpp).
  const uint16_t *xEvenBf16 = nullptr;
  const uint16_t *xOddBf16 = nullptr;

  /// Blocks align with weight rows and hold whole 32-element groups.
  bool fastPath() const {
    return blocksize > 0 && blocksize % 32 == 0 && K % blocksize == 0;
  }
};

/// A float matmul: out [M, N] = x [M, K] * w, w [N, K] when transposed else
/// [K, N], of dtype wdtype.
struct MatmulProblem {
  float *out = nullptr;
  const float *x = nullptr;
  const void *w = nullptr;
  int64_t M = 0, N = 0, K = 0;
  int wdtype = kF32;
  bool transposed = true;
};

/// An int8 product: out [M, N] = a [M, K] * b [N, K]^T in int32.
struct Int8Problem {
  int32_t *out = nullptr;
  const int8_t *a = nullptr;
  const int8_t *b = nullptr;
  int64_t M = 0, N = 0, K = 0;
  /// a sign-extended to int16, [M][K2] with K2 = K rounded up to even and a
  /// zero pad, made once per call by the dispatcher (SIMD kernels only).
  const int16_t *a16 = nullptr;
  int64_t K2 = 0;
};

/// The kernels of one instruction set; each computes out[:, n0:n1).
struct KernelSet {
  /// 4-bit linear over columns [n0, n1).
  void (*linear4bit)(const Linear4bitProblem &p, int64_t n0, int64_t n1);
  /// Float matmul over columns [n0, n1).
  void (*matmul)(const MatmulProblem &p, int64_t n0, int64_t n1);
  /// int8 product over columns [n0, n1).
  void (*int8)(const Int8Problem &p, int64_t n0, int64_t n1);
};

/// A 64-byte aligned buffer of at least `bytes`, private to the calling
/// thread; `slot` (0..3) tells the buffers a kernel uses at once apart.
/// Defined in the generic translation unit so that no standard library
/// template is instantiated in the ISA-specific ones: the linker could keep
/// an AVX-512 instantiation for every caller.
void *scratch(int slot, size_t bytes);

/// Calls body(context, i) for every i in [0, chunks) on the microkernels'
/// thread pool (inline with one thread); bodies must not depend on which
/// thread runs them.
void parallelChunks(int64_t chunks, void (*body)(void *context, int64_t i),
                    void *context);

/// Portable C++ kernels.
const KernelSet &genericKernels();
/// AVX2 + FMA + F16C kernels.
const KernelSet &avx2Kernels();
/// AVX-512 F/BW/VL/DQ (+VNNI) kernels.
const KernelSet &avx512Kernels();

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_KERNELS_H
