//===- Repacked4bit.h - 4-bit weights repacked for batch 1 ---*- C++ -*-===//
//
// A batch-1 GEMV over bitsandbytes' row-major packing streams one weight row
// at a time and reloads x for every row. With rows of K = 11008 (x 22 KiB in
// bf16, 44 KiB in f32) x no longer stays in L1 and the GEMV ran at 0.6-0.9x
// of bitsandbytes' CPU kernel, which repacks its weights at load time. Here
// the runtime does the same, once per weight and only for weights that a
// caller declared immutable (bnbrt_uk_weights_register): 16 weight rows are
// interleaved block by block, so one stream of bytes feeds 16 outputs and
// each x block is loaded once for all 16, and the absmax of every block is
// stored, in the same group/block/row order, as the f32 value
// AbsmaxSource::get gives (double quantization undone exactly, as
// bitsandbytes undoes it at load).
//
// The dequantized weights are bit for bit those of the row-major kernels;
// only the order of the f32 sums over k differs (one accumulator per output
// instead of four).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_REPACKED4BIT_H
#define BNB_RUNTIME_LIB_UKERNELS_REPACKED4BIT_H

#include "Kernels.h"

namespace bnb::rt::uk {

/// Weight rows interleaved in one group of the repacked layout.
constexpr int64_t kRepackRows = 16;

/// Block size the repacked layout supports (the default, 32 bytes of codes).
constexpr int64_t kRepackBlocksize = 64;

/// A 4-bit weight [N, K] repacked for the batch-1 GEMV: rows [0, groups *
/// kRepackRows) in groups of kRepackRows; rows past them stay in the
/// original layout (the kernels take them from the problem).
struct Repacked4bit {
  int64_t N = 0, K = 0;
  /// Full groups of kRepackRows rows.
  int64_t groups = 0;
  int64_t blocksPerRow = 0;
  /// [groups][blocksPerRow][kRepackRows][32]: block b of the group's rows.
  const uint8_t *codes = nullptr;
  /// [groups][blocksPerRow][kRepackRows]: the f32 absmax of those blocks.
  const float *absmax = nullptr;
  /// [groups]: the smallest nonzero |absmax| of the group as float bits
  /// (0x7f800000, infinity, when none; NaN counts as no value).
  const uint32_t *minMagnitude = nullptr;

  /// Bytes of codes of one group.
  int64_t groupCodeBytes() const { return blocksPerRow * kRepackRows * 32; }
};

/// The repacked copy of `p`'s weight, made at its first use and kept until
/// the range holding it is released; null when there is none: repacking is
/// off (BNB_UKERNEL_REPACK=0), the shape does not fit (blocksize 64, K a
/// multiple of 64, at least kRepackRows rows), some array of the weight is
/// not inside a range registered as immutable, or memory ran out.
const Repacked4bit *repacked4bit(const Linear4bitProblem &p);

/// Number of repacked weights held (for the unit tests).
size_t repackedCount();

} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_REPACKED4BIT_H
