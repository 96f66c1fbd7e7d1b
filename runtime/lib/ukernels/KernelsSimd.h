//===- KernelsSimd.h - SIMD microkernels over a vector traits ---*- C++ -*-===//
//
// The AVX-512 and AVX2 kernels share their structure and differ in the
// vector traits `V` (KernelsAvx512.cpp, KernelsAvx2.cpp include this file
// once each, compiled with their own -m flags). Everything here has internal
// linkage and no standard library template is used, so no code compiled for
// one instruction set can be picked by the linker for another.
//
// Traits interface: W float lanes; F/I float/int vectors; MR rows of the GEMM
// microkernel; kGemv4bitMaxRows (the 4-bit GEMV's rows of x at most); kTranspose and transpose (a W x W block, where kTranspose);
// zero/load/store/set1/fmadd/add/sum; loadF16/loadBF16 (W
// weights to f32); Table + table() (16 rounded codebook*absmax entries; the
// bf16 rounding skips its NaN fix-up when no entry can be NaN),
// loadNibbles (W packed bytes zero-extended to int32), lookupHi/lookupLo;
// izero/iadd/madd (vpmaddwd)/loadI8Pairs (2W int8 sign-extended to int16)/
// loadI16/bcast32/isum/storeI.
//
// Paths:
//  - GEMV (M <= V::kGemv4bitMaxRows for 4-bit, kGemvMaxRows for float
//    weights): weights stream once; the 4-bit one builds a
//    per-block 16-entry table and multiplies high nibbles with the even
//    elements of x, low nibbles with the odd ones (split by the dispatcher).
//  - GEMM: a 32-row weight tile is converted once per call into an f32 panel
//    [K][32] (int16 pairs for int8) and a register-blocked MR x 32
//    microkernel runs over every row of x.
// Each output element is one FMA/add chain over k in ascending order (GEMM)
// or a fixed lane/accumulator split (GEMV), fixed by the problem alone.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_KERNELSSIMD_H
#define BNB_RUNTIME_LIB_UKERNELS_KERNELSSIMD_H

#include "Kernels.h"

namespace bnb::rt::uk {
namespace {

inline int64_t minI64(int64_t a, int64_t b) { return a < b ? a : b; }

/// True unless `v` is infinite or NaN.
inline bool finite(float v) {
  return (bitsOf(v) & 0x7f800000u) != 0x7f800000u;
}

/// Weight element `e` of a float matrix as f32 (scalar tails).
inline float weightAt(const void *w, int dt, int64_t e) {
  if (dt == kF16)
    return halfToFloat(static_cast<const uint16_t *>(w)[e]);
  if (dt == kBF16)
    return bfloat16ToFloat(static_cast<const uint16_t *>(w)[e]);
  return static_cast<const float *>(w)[e];
}

/// W weights from element `e` on, as f32.
template <class V>
inline typename V::F loadWeights(const void *w, int dt, int64_t e) {
  if (dt == kF16)
    return V::loadF16(static_cast<const uint16_t *>(w) + e);
  if (dt == kBF16)
    return V::loadBF16(static_cast<const uint16_t *>(w) + e);
  return V::load(static_cast<const float *>(w) + e);
}

//===----------------------------------------------------------------------===//
// GEMM microkernels
//===----------------------------------------------------------------------===//

/// out[0:R, 0:cols) = x[0:R, :] * panel, panel [K][32] f32.
template <class V, int R>
void microF32(const float *x, int64_t ldx, const float *panel, int64_t K,
              float *out, int64_t ldo, int64_t cols) {
  using F = typename V::F;
  constexpr int NV = static_cast<int>(kPanelWidth) / V::W;
  F acc[R][NV];
  for (int m = 0; m < R; ++m)
    for (int v = 0; v < NV; ++v)
      acc[m][v] = V::zero();
  for (int64_t k = 0; k < K; ++k) {
    F w[NV];
    for (int v = 0; v < NV; ++v)
      w[v] = V::load(panel + k * kPanelWidth + v * V::W);
    for (int m = 0; m < R; ++m) {
      F xb = V::set1(x[m * ldx + k]);
      for (int v = 0; v < NV; ++v)
        acc[m][v] = V::fmadd(xb, w[v], acc[m][v]);
    }
  }
  alignas(64) float tmp[kPanelWidth];
  for (int m = 0; m < R; ++m) {
    if (cols == kPanelWidth) {
      for (int v = 0; v < NV; ++v)
        V::store(out + m * ldo + v * V::W, acc[m][v]);
      continue;
    }
    for (int v = 0; v < NV; ++v)
      V::store(tmp + v * V::W, acc[m][v]);
    for (int64_t c = 0; c < cols; ++c)
      out[m * ldo + c] = tmp[c];
  }
}

/// Rows of x left over after the full MR-row groups: R, R-1, ..., 1.
template <class V, int R>
void microF32Tail(int64_t rows, const float *x, int64_t ldx,
                  const float *panel, int64_t K, float *out, int64_t ldo,
                  int64_t cols) {
  if constexpr (R >= 1) {
    if (rows == R)
      microF32<V, R>(x, ldx, panel, K, out, ldo, cols);
    else
      microF32Tail<V, R - 1>(rows, x, ldx, panel, K, out, ldo, cols);
  }
}

/// out[:, 0:cols) = x [M, K] * panel for all M rows.
template <class V>
void gemmF32Panel(const float *x, int64_t M, int64_t K, const float *panel,
                  float *out, int64_t ldo, int64_t cols) {
  int64_t m = 0;
  for (; m + V::MR <= M; m += V::MR)
    microF32<V, V::MR>(x + m * K, K, panel, K, out + m * ldo, ldo, cols);
  if (m < M)
    microF32Tail<V, V::MR - 1>(M - m, x + m * K, K, panel, K, out + m * ldo,
                               ldo, cols);
}

//===----------------------------------------------------------------------===//
// 4-bit
//===----------------------------------------------------------------------===//

/// GEMV over weight rows [n0, n1) for rows m0..m0+R of x. With several
/// rows of x that do not fit kGemvXBytesInL1 together, the blocks of a
/// weight row go in chunks whose x does, all rows per chunk; each output
/// is then the sum of its per-chunk sums in chunk order. `G` is the number
/// of W-byte groups per block when known at compile time (0: from p), and
/// `C` the compute dtype (p.compute): constants, so that the per-block
/// table needs no branches (a third of the f32 GEMV's time when they were
/// taken per block).
template <class V, int R, int G, int C>
void gemv4bitWith(const Linear4bitProblem &p, int64_t m0, int64_t n0,
                  int64_t n1) {
  using F = typename V::F;
  using I = typename V::I;
  constexpr int S = R == 1 ? 2 : 1; // accumulator sets: hide FMA latency
  const int64_t half = p.K / 2;
  const int64_t blocksPerRow = p.K / p.blocksize;
  const int64_t bytesPerBlock = G ? G * V::W : p.blocksize / 2;
  const int64_t groups = G ? G : bytesPerBlock / V::W;
  const float *xe = p.xEven + m0 * half;
  const float *xo = p.xOdd + m0 * half;
  // x of one block: blocksize floats per row (even and odd halves).
  const int64_t xBytesPerBlock =
      R * p.blocksize * static_cast<int64_t>(sizeof(float));
  const int64_t fit = kGemvXBytesInL1 / xBytesPerBlock;
  const int64_t chunk = R == 1 ? blocksPerRow : (fit > 0 ? fit : 1);
  // Double quantization: the 256 absmaxes of a nested block, in the slot
  // of its parity, so that rows crossing a boundary find both built.
  const AbsmaxSource &source = p.absmax;
  NestedAbsmax nested[2];
  for (int64_t c0 = 0; c0 < blocksPerRow; c0 += chunk) {
    const int64_t c1 = minI64(blocksPerRow, c0 + chunk);
    for (int64_t n = n0; n < n1; ++n) {
      F accE[S][R], accO[S][R];
      for (int s = 0; s < S; ++s)
        for (int m = 0; m < R; ++m)
          accE[s][m] = accO[s][m] = V::zero();
      const uint8_t *row = p.packed + n * half;
      // Blocks [b0, b1) of the row, block b's absmax absmaxOf(b).
      auto blocks = [&](int64_t b0, int64_t b1, auto absmaxOf) {
        for (int64_t b = b0; b < b1; ++b) {
          typename V::Table table =
              V::table(p.codebook, absmaxOf(b), C, p.finiteCodebook);
          int64_t j0 = b * bytesPerBlock;
          // One line per 64 bytes of weights.
          if (b % 2 == 0)
            prefetchAhead(row + j0);
          auto step = [&](int s, int64_t g) {
            int64_t j = j0 + g * V::W;
            I q = V::loadNibbles(row + j);
            F hi = V::lookupHi(table, q);
            F lo = V::lookupLo(table, q);
            for (int m = 0; m < R; ++m) {
              accE[s][m] =
                  V::fmadd(hi, V::load(xe + m * half + j), accE[s][m]);
              accO[s][m] =
                  V::fmadd(lo, V::load(xo + m * half + j), accO[s][m]);
            }
          };
          int64_t g = 0;
          if constexpr (S == 2)
            for (; g + 2 <= groups; g += 2) {
              step(0, g);
              step(S - 1, g + 1);
            }
          for (; g < groups; ++g)
            step(0, g);
        }
      };
      const int64_t first = n * blocksPerRow;
      if (source.absmax) {
        const float *absmax = source.absmax + first;
        blocks(c0, c1, [absmax](int64_t b) { return absmax[b]; });
      } else {
        // Part by part between nested-block boundaries; the accumulator
        // sets go by group, so the order of the sums does not change.
        const int64_t nbs = source.nestedBlocksize;
        for (int64_t b = c0; b < c1;) {
          const int64_t nest = (first + b) / nbs;
          const int64_t partEnd = minI64(c1, (nest + 1) * nbs - first);
          NestedAbsmax &table = nested[nest & 1];
          table.build(source, nest);
          const uint8_t *codes = source.codes + first;
          const float *values = table.value;
          blocks(b, partEnd,
                 [codes, values](int64_t i) { return values[codes[i]]; });
          b = partEnd;
        }
      }
      for (int m = 0; m < R; ++m) {
        F total = V::add(accE[0][m], accO[0][m]);
        if constexpr (S == 2)
          total = V::add(total, V::add(accE[S - 1][m], accO[S - 1][m]));
        float &out = p.out[(m0 + m) * p.N + n];
        out = c0 == 0 ? V::sum(total) : out + V::sum(total);
      }
    }
  }
}

/// gemv4bitWith for p's compute dtype, with the groups per block fixed for
/// blocksize 64 (bitsandbytes' default) and 128.
template <class V, int R, int C>
void gemv4bitFor(const Linear4bitProblem &p, int64_t m0, int64_t n0,
                 int64_t n1) {
  if (p.blocksize == 2 * V::W * 2)
    gemv4bitWith<V, R, 2, C>(p, m0, n0, n1);
  else if (p.blocksize == 4 * V::W * 2)
    gemv4bitWith<V, R, 4, C>(p, m0, n0, n1);
  else
    gemv4bitWith<V, R, 0, C>(p, m0, n0, n1);
}

template <class V, int R>
void gemv4bit(const Linear4bitProblem &p, int64_t m0, int64_t n0, int64_t n1) {
  if (p.compute == kF16)
    gemv4bitFor<V, R, kF16>(p, m0, n0, n1);
  else if (p.compute == kBF16)
    gemv4bitFor<V, R, kBF16>(p, m0, n0, n1);
  else
    gemv4bitFor<V, R, kF32>(p, m0, n0, n1);
}

/// Dequantizes weight row n into its even (high nibble) and odd (low
/// nibble) elements, K/2 each.
template <class V>
void dequant4bitRow(const Linear4bitProblem &p, int64_t n, float *even,
                    float *odd) {
  const int64_t half = p.K / 2;
  const int64_t blocksPerRow = p.K / p.blocksize;
  const int64_t bytesPerBlock = p.blocksize / 2;
  const uint8_t *row = p.packed + n * half;
  for (int64_t b = 0; b < blocksPerRow; ++b) {
    typename V::Table table =
        V::table(p.codebook, p.absmax.get(n * blocksPerRow + b), p.compute,
                 p.finiteCodebook);
    for (int64_t j = b * bytesPerBlock; j < (b + 1) * bytesPerBlock;
         j += V::W) {
      typename V::I q = V::loadNibbles(row + j);
      V::store(even + j, V::lookupHi(table, q));
      V::store(odd + j, V::lookupLo(table, q));
    }
  }
}

template <class V>
void gemm4bit(const Linear4bitProblem &p, int64_t n0, int64_t n1) {
  const int64_t half = p.K / 2;
  auto *panel = static_cast<float *>(
      scratch(0, sizeof(float) * static_cast<size_t>(p.K * kPanelWidth)));
  auto *rows = static_cast<float *>(
      scratch(1, sizeof(float) * static_cast<size_t>(p.K * kPanelWidth)));
  for (int64_t r0 = n0; r0 < n1; r0 += kPanelWidth) {
    int64_t count = minI64(kPanelWidth, n1 - r0);
    // rows: [32][2][K/2], even then odd elements of each weight row.
    for (int64_t r = 0; r < count; ++r)
      dequant4bitRow<V>(p, r0 + r, rows + r * p.K, rows + r * p.K + half);
    for (int64_t r = count; r < kPanelWidth; ++r)
      for (int64_t k = 0; k < p.K; ++k)
        rows[r * p.K + k] = 0.0f;
    // Transpose W x W blocks in registers where the traits can (a quarter
    // of the f32 GEMM's time when done element by element).
    int64_t jv = 0;
    if constexpr (V::kTranspose) {
      for (; jv + V::W <= half; jv += V::W)
        for (int64_t rb = 0; rb < kPanelWidth; rb += V::W) {
          const float *e = rows + rb * p.K + jv;
          V::transpose(e, p.K, panel + (2 * jv) * kPanelWidth + rb,
                       2 * kPanelWidth);
          V::transpose(e + half, p.K, panel + (2 * jv + 1) * kPanelWidth + rb,
                       2 * kPanelWidth);
        }
    }
    // The rest in 8-pair strips so both sides stay in L1.
    for (int64_t j0 = jv; j0 < half; j0 += 8) {
      int64_t j1 = minI64(half, j0 + 8);
      for (int64_t r = 0; r < kPanelWidth; ++r) {
        const float *e = rows + r * p.K;
        const float *o = e + half;
        for (int64_t j = j0; j < j1; ++j) {
          panel[(2 * j) * kPanelWidth + r] = e[j];
          panel[(2 * j + 1) * kPanelWidth + r] = o[j];
        }
      }
    }
    gemmF32Panel<V>(p.x, p.M, p.K, panel, p.out + r0, p.N, count);
  }
}

template <class V>
void linear4bit(const Linear4bitProblem &p, int64_t n0, int64_t n1) {
  if (!p.fastPath()) {
    genericKernels().linear4bit(p, n0, n1);
    return;
  }
  if (p.M > V::kGemv4bitMaxRows) {
    gemm4bit<V>(p, n0, n1);
    return;
  }
  int64_t m = 0;
  for (; m + 4 <= p.M; m += 4)
    gemv4bit<V, 4>(p, m, n0, n1);
  switch (p.M - m) {
  case 3:
    gemv4bit<V, 3>(p, m, n0, n1);
    break;
  case 2:
    gemv4bit<V, 2>(p, m, n0, n1);
    break;
  case 1:
    gemv4bit<V, 1>(p, m, n0, n1);
    break;
  default:
    break;
  }
}

//===----------------------------------------------------------------------===//
// Float matmul
//===----------------------------------------------------------------------===//

/// GEMV with w [N, K]: one dot product per weight row.
template <class V, int R>
void gemvT(const MatmulProblem &p, int64_t m0, int64_t n0, int64_t n1) {
  using F = typename V::F;
  constexpr int S = R == 1 ? 2 : 1;
  const int64_t K = p.K;
  const int64_t kv = K - K % (S * V::W);
  const float *x = p.x + m0 * K;
  for (int64_t n = n0; n < n1; ++n) {
    F acc[S][R];
    for (int s = 0; s < S; ++s)
      for (int m = 0; m < R; ++m)
        acc[s][m] = V::zero();
    for (int64_t k = 0; k < kv; k += S * V::W)
      for (int s = 0; s < S; ++s) {
        F w = loadWeights<V>(p.w, p.wdtype, n * K + k + s * V::W);
        for (int m = 0; m < R; ++m)
          acc[s][m] = V::fmadd(w, V::load(x + m * K + k + s * V::W),
                               acc[s][m]);
      }
    for (int m = 0; m < R; ++m) {
      F total = acc[0][m];
      if constexpr (S == 2)
        total = V::add(total, acc[S - 1][m]);
      float tail = 0.0f;
      for (int64_t k = kv; k < K; ++k)
        tail += x[m * K + k] * weightAt(p.w, p.wdtype, n * K + k);
      p.out[(m0 + m) * p.N + n] = V::sum(total) + tail;
    }
  }
}

/// GEMV with w [K, N]: 2W columns at a time stream down the rows of w.
template <class V, int R>
void gemvN(const MatmulProblem &p, int64_t m0, int64_t n0, int64_t n1) {
  using F = typename V::F;
  const int64_t K = p.K, N = p.N;
  const float *x = p.x + m0 * K;
  int64_t c = n0;
  for (; c + 2 * V::W <= n1; c += 2 * V::W) {
    F acc[R][2];
    for (int m = 0; m < R; ++m)
      acc[m][0] = acc[m][1] = V::zero();
    for (int64_t k = 0; k < K; ++k) {
      F w0 = loadWeights<V>(p.w, p.wdtype, k * N + c);
      F w1 = loadWeights<V>(p.w, p.wdtype, k * N + c + V::W);
      for (int m = 0; m < R; ++m) {
        F xb = V::set1(x[m * K + k]);
        acc[m][0] = V::fmadd(xb, w0, acc[m][0]);
        acc[m][1] = V::fmadd(xb, w1, acc[m][1]);
      }
    }
    for (int m = 0; m < R; ++m) {
      V::store(p.out + (m0 + m) * N + c, acc[m][0]);
      V::store(p.out + (m0 + m) * N + c + V::W, acc[m][1]);
    }
  }
  // The last columns of w (only ever in the last tile).
  for (; c < n1; ++c)
    for (int m = 0; m < R; ++m) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k)
        acc += x[m * K + k] * weightAt(p.w, p.wdtype, k * N + c);
      p.out[(m0 + m) * N + c] = acc;
    }
}

/// GEMV of one row of x with w [N, K], kRows weight rows at a time: each
/// step loads x once for kRows rows and reads kRows independent streams
/// (measured on Zen 4 at K = 11008: 8 rows 20-35% faster than one at a time
/// out of cache, a little faster than 4).
/// Rows are grouped from n0, a multiple of the column tile, so the grouping
/// never depends on the thread count.
template <class V, int kRows = 8>
void gemvT1Rows(const MatmulProblem &p, int64_t n0, int64_t n1) {
  using F = typename V::F;
  const int64_t K = p.K;
  const int64_t kv = K - K % V::W;
  int64_t n = n0;
  for (; n + kRows <= n1; n += kRows) {
    F acc[kRows];
    for (int r = 0; r < kRows; ++r)
      acc[r] = V::zero();
    for (int64_t k = 0; k < kv; k += V::W) {
      F xv = V::load(p.x + k);
      for (int r = 0; r < kRows; ++r)
        acc[r] = V::fmadd(loadWeights<V>(p.w, p.wdtype, (n + r) * K + k), xv,
                          acc[r]);
    }
    for (int r = 0; r < kRows; ++r) {
      float tail = 0.0f;
      for (int64_t k = kv; k < K; ++k)
        tail += p.x[k] * weightAt(p.w, p.wdtype, (n + r) * K + k);
      p.out[n + r] = V::sum(acc[r]) + tail;
    }
  }
  if (n < n1)
    gemvT<V, 1>(p, 0, n, n1);
}

template <class V, int R>
void gemvF(const MatmulProblem &p, int64_t m0, int64_t n0, int64_t n1) {
  if (p.transposed)
    gemvT<V, R>(p, m0, n0, n1);
  else
    gemvN<V, R>(p, m0, n0, n1);
}

/// Packs weight rows [r0, r0+count) as f32 panel [K][32], zero-padded.
template <class V>
void packFloatPanel(const MatmulProblem &p, int64_t r0, int64_t count,
                    float *panel) {
  const int64_t K = p.K, N = p.N;
  if (!p.transposed && count == kPanelWidth) {
    for (int64_t k = 0; k < K; ++k)
      for (int v = 0; v < kPanelWidth / V::W; ++v)
        V::store(panel + k * kPanelWidth + v * V::W,
                 loadWeights<V>(p.w, p.wdtype, k * N + r0 + v * V::W));
    return;
  }
  for (int64_t k = 0; k < K; ++k)
    for (int64_t r = count; r < kPanelWidth; ++r)
      panel[k * kPanelWidth + r] = 0.0f;
  if (!p.transposed) {
    for (int64_t k = 0; k < K; ++k)
      for (int64_t r = 0; r < count; ++r)
        panel[k * kPanelWidth + r] = weightAt(p.w, p.wdtype, k * N + r0 + r);
    return;
  }
  // w [N, K]: convert W elements of a row at a time, transpose in strips.
  const int64_t kv = K - K % V::W;
  if constexpr (V::kTranspose) {
    if (count == kPanelWidth) {
      // W x W blocks converted into a buffer, then transposed in registers.
      alignas(64) float block[V::W * V::W];
      for (int64_t rb = 0; rb < kPanelWidth; rb += V::W)
        for (int64_t k = 0; k < kv; k += V::W) {
          for (int i = 0; i < V::W; ++i)
            V::store(block + i * V::W,
                     loadWeights<V>(p.w, p.wdtype, (r0 + rb + i) * K + k));
          V::transpose(block, V::W, panel + k * kPanelWidth + rb,
                       kPanelWidth);
        }
      for (int64_t r = 0; r < count; ++r)
        for (int64_t k = kv; k < K; ++k)
          panel[k * kPanelWidth + r] =
              weightAt(p.w, p.wdtype, (r0 + r) * K + k);
      return;
    }
  }
  alignas(64) float tmp[64];
  for (int64_t r = 0; r < count; ++r) {
    int64_t base = (r0 + r) * K;
    for (int64_t k = 0; k < kv; k += V::W) {
      V::store(tmp, loadWeights<V>(p.w, p.wdtype, base + k));
      for (int i = 0; i < V::W; ++i)
        panel[(k + i) * kPanelWidth + r] = tmp[i];
    }
    for (int64_t k = kv; k < K; ++k)
      panel[k * kPanelWidth + r] = weightAt(p.w, p.wdtype, base + k);
  }
}

template <class V>
void matmul(const MatmulProblem &p, int64_t n0, int64_t n1) {
  if (p.M > kGemvMaxRows) {
    auto *panel = static_cast<float *>(
        scratch(0, sizeof(float) * static_cast<size_t>(p.K * kPanelWidth)));
    for (int64_t r0 = n0; r0 < n1; r0 += kPanelWidth) {
      int64_t count = minI64(kPanelWidth, n1 - r0);
      packFloatPanel<V>(p, r0, count, panel);
      gemmF32Panel<V>(p.x, p.M, p.K, panel, p.out + r0, p.N, count);
    }
    return;
  }
  // Only where x's row would not stay in L1 beside the weight stream. Shorter
  // rows are better read one after another, as one sequential stream: with
  // eight streams SmolLM2's lm_head (K = 576) made a decode step 13-25%
  // slower on Zen 4, and at K = 4096 it gained little.
  if (p.M == 1 && p.transposed &&
      batch1XLeavesL1(p.K * int64_t(sizeof(float)))) {
    gemvT1Rows<V>(p, n0, n1);
    return;
  }
  int64_t m = 0;
  for (; m + 4 <= p.M; m += 4)
    gemvF<V, 4>(p, m, n0, n1);
  switch (p.M - m) {
  case 3:
    gemvF<V, 3>(p, m, n0, n1);
    break;
  case 2:
    gemvF<V, 2>(p, m, n0, n1);
    break;
  case 1:
    gemvF<V, 1>(p, m, n0, n1);
    break;
  default:
    break;
  }
}

//===----------------------------------------------------------------------===//
// int8
//===----------------------------------------------------------------------===//

/// Exact int32 dot products of a16 rows m0..m0+R with b rows [n0, n1):
/// vpmaddwd of int16 pairs is exact for int8 inputs (|a*b + c*d| <= 2^15).
template <class V, int R>
void gemvI8(const Int8Problem &p, int64_t m0, int64_t n0, int64_t n1) {
  using I = typename V::I;
  constexpr int S = R == 1 ? 2 : 1;
  constexpr int64_t step = 2 * V::W; // int8 elements per vector
  const int64_t K = p.K;
  const int64_t kv = K - K % (S * step);
  for (int64_t n = n0; n < n1; ++n) {
    const int8_t *b = p.b + n * K;
    I acc[S][R];
    for (int s = 0; s < S; ++s)
      for (int m = 0; m < R; ++m)
        acc[s][m] = V::izero();
    for (int64_t k = 0; k < kv; k += S * step)
      for (int s = 0; s < S; ++s) {
        I bv = V::loadI8Pairs(b + k + s * step);
        for (int m = 0; m < R; ++m)
          acc[s][m] = V::iadd(
              acc[s][m],
              V::madd(bv, V::loadI16(p.a16 + (m0 + m) * p.K2 + k + s * step)));
      }
    for (int m = 0; m < R; ++m) {
      I total = acc[0][m];
      if constexpr (S == 2)
        total = V::iadd(total, acc[S - 1][m]);
      // Unsigned arithmetic: int32 wrap-around without signed overflow.
      uint32_t sum = static_cast<uint32_t>(V::isum(total));
      const int8_t *a = p.a + (m0 + m) * K;
      for (int64_t k = kv; k < K; ++k)
        sum += static_cast<uint32_t>(int32_t(a[k]) * int32_t(b[k]));
      p.out[(m0 + m) * p.N + n] = static_cast<int32_t>(sum);
    }
  }
}

/// The int8 product of one row of a with b rows [n0, n1), kRows rows of b at
/// a time: each step loads a once for kRows rows and reads kRows streams,
/// as gemvT1Rows does for float weights.
template <class V, int kRows = 8>
void gemvI8Rows(const Int8Problem &p, int64_t n0, int64_t n1) {
  using I = typename V::I;
  constexpr int64_t step = 2 * V::W; // int8 elements per vector
  const int64_t K = p.K;
  const int64_t kv = K - K % step;
  int64_t n = n0;
  for (; n + kRows <= n1; n += kRows) {
    I acc[kRows];
    for (int r = 0; r < kRows; ++r)
      acc[r] = V::izero();
    for (int64_t k = 0; k < kv; k += step) {
      I av = V::loadI16(p.a16 + k);
      for (int r = 0; r < kRows; ++r)
        acc[r] =
            V::iadd(acc[r], V::madd(V::loadI8Pairs(p.b + (n + r) * K + k), av));
    }
    for (int r = 0; r < kRows; ++r) {
      // Unsigned arithmetic: int32 wrap-around without signed overflow.
      uint32_t sum = static_cast<uint32_t>(V::isum(acc[r]));
      const int8_t *b = p.b + (n + r) * K;
      for (int64_t k = kv; k < K; ++k)
        sum += static_cast<uint32_t>(int32_t(p.a[k]) * int32_t(b[k]));
      p.out[n + r] = static_cast<int32_t>(sum);
    }
  }
  if (n < n1)
    gemvI8<V, 1>(p, 0, n, n1);
}

/// out[0:R, 0:cols) for a16 rows and an int16 pair panel [K2/2][32][2].
template <class V, int R>
void microI8(const int16_t *a16, int64_t lda, const int16_t *panel,
             int64_t pairs, int32_t *out, int64_t ldo, int64_t cols) {
  using I = typename V::I;
  constexpr int NV = static_cast<int>(kPanelWidth) / V::W;
  I acc[R][NV];
  for (int m = 0; m < R; ++m)
    for (int v = 0; v < NV; ++v)
      acc[m][v] = V::izero();
  for (int64_t j = 0; j < pairs; ++j) {
    I w[NV];
    for (int v = 0; v < NV; ++v)
      w[v] = V::loadI16(panel + j * 2 * kPanelWidth + v * 2 * V::W);
    for (int m = 0; m < R; ++m) {
      int32_t pair;
      std::memcpy(&pair, a16 + m * lda + 2 * j, 4);
      I ab = V::bcast32(pair);
      for (int v = 0; v < NV; ++v)
        acc[m][v] = V::iadd(acc[m][v], V::madd(ab, w[v]));
    }
  }
  alignas(64) int32_t tmp[kPanelWidth];
  for (int m = 0; m < R; ++m) {
    for (int v = 0; v < NV; ++v)
      V::storeI(tmp + v * V::W, acc[m][v]);
    for (int64_t c = 0; c < cols; ++c)
      out[m * ldo + c] = tmp[c];
  }
}

template <class V, int R>
void microI8Tail(int64_t rows, const int16_t *a16, int64_t lda,
                 const int16_t *panel, int64_t pairs, int32_t *out,
                 int64_t ldo, int64_t cols) {
  if constexpr (R >= 1) {
    if (rows == R)
      microI8<V, R>(a16, lda, panel, pairs, out, ldo, cols);
    else
      microI8Tail<V, R - 1>(rows, a16, lda, panel, pairs, out, ldo, cols);
  }
}

template <class V>
void gemmI8(const Int8Problem &p, int64_t n0, int64_t n1) {
  const int64_t K = p.K, pairs = p.K2 / 2;
  auto *panel = static_cast<int16_t *>(scratch(
      0, sizeof(int16_t) * static_cast<size_t>(p.K2 * kPanelWidth)));
  for (int64_t r0 = n0; r0 < n1; r0 += kPanelWidth) {
    int64_t count = minI64(kPanelWidth, n1 - r0);
    for (int64_t r = 0; r < kPanelWidth; ++r) {
      const int8_t *b = p.b + (r0 + r) * K;
      for (int64_t k = 0; k < p.K2; ++k)
        panel[(k / 2) * 2 * kPanelWidth + 2 * r + (k & 1)] =
            (r < count && k < K) ? b[k] : 0;
    }
    int64_t m = 0;
    for (; m + V::MR <= p.M; m += V::MR)
      microI8<V, V::MR>(p.a16 + m * p.K2, p.K2, panel, pairs,
                        p.out + m * p.N + r0, p.N, count);
    if (m < p.M)
      microI8Tail<V, V::MR - 1>(p.M - m, p.a16 + m * p.K2, p.K2, panel, pairs,
                                p.out + m * p.N + r0, p.N, count);
  }
}

template <class V>
void int8(const Int8Problem &p, int64_t n0, int64_t n1) {
  if (p.M > kGemvMaxRows) {
    gemmI8<V>(p, n0, n1);
    return;
  }
  // Only where a's int16 row would not stay in L1 beside the weight stream
  // (measured on Zen 4: K = 11008 up to 28% faster, K = 4096 7-35% slower).
  if (p.M == 1 && batch1XLeavesL1(p.K2 * int64_t(sizeof(int16_t)))) {
    gemvI8Rows<V>(p, n0, n1);
    return;
  }
  int64_t m = 0;
  for (; m + 4 <= p.M; m += 4)
    gemvI8<V, 4>(p, m, n0, n1);
  switch (p.M - m) {
  case 3:
    gemvI8<V, 3>(p, m, n0, n1);
    break;
  case 2:
    gemvI8<V, 2>(p, m, n0, n1);
    break;
  case 1:
    gemvI8<V, 1>(p, m, n0, n1);
    break;
  default:
    break;
  }
}

} // namespace
} // namespace bnb::rt::uk

#endif // BNB_RUNTIME_LIB_UKERNELS_KERNELSSIMD_H
