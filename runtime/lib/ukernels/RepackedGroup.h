//===- RepackedGroup.h - the walk over one repacked group ------*- C++ -*-===//
//
// Shared by KernelsRepackedAvx512.cpp and KernelsRepackedAvx512Bf16.cpp,
// which differ only in what they do per block. Internal linkage only, as in
// Avx512Shared.h: each file compiles its own copy with its own -m flags.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_REPACKEDGROUP_H
#define BNB_RUNTIME_LIB_UKERNELS_REPACKEDGROUP_H

#include "KernelsRepacked.h"

#include <immintrin.h>

namespace bnb::rt::uk {
namespace {

/// out[g * kRepackRows, +kRepackRows) of `q`: for every block b of group g,
/// `block(b, codes, absmax, acc)` adds the block's kRepackRows rows (32
/// bytes each at codes + 32 * i, absmax[i]) into their accumulators acc[i];
/// each output is then its accumulator's lanes summed.
template <typename Block>
inline void repackedGroup(const RepackedGemvProblem &q, int64_t g,
                          Block block) {
  const Repacked4bit &r = *q.r;
  const uint8_t *codes = r.codes + g * r.groupCodeBytes();
  const float *absmax = r.absmax + g * r.blocksPerRow * kRepackRows;
  __m512 acc[kRepackRows];
  for (auto &a : acc)
    a = _mm512_setzero_ps();
  for (int64_t b = 0; b < r.blocksPerRow; ++b) {
    const uint8_t *w = codes + b * kRepackRows * 32;
    // The group's block is 512 bytes: eight lines, kPrefetchBytes ahead.
    for (int i = 0; i < 8; ++i)
      prefetchAhead(w + 64 * i);
    block(b, w, absmax + b * kRepackRows, acc);
  }
  float *out = q.p.out + g * kRepackRows;
  for (int i = 0; i < kRepackRows; ++i)
    out[i] = _mm512_reduce_add_ps(acc[i]);
}

} // namespace
} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_REPACKEDGROUP_H
