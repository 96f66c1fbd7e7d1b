//===- KernelsAmx.cpp - AMX GEMM microkernels -----------------------------===//
//
// Compiled with -mamx-tile -mamx-int8 -mamx-bf16 -mavx512f/bw/vl/dq
// -mavx512bf16 -mavx512vbmi -ffp-contract=off. Dispatch.cpp calls into this
// file only at the amx level: the CPU has AMX-TILE, AMX-INT8, AMX-BF16,
// AVX512-BF16 and AVX512-VBMI, and the kernel granted this process the tile
// data state (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)).
//
// Layout: every tile is 16 rows of 64 bytes (one configuration for all eight
// tiles). x (or a) is packed once per call by the dispatcher into A tiles:
// tile (mt, kb) holds rows 16*mt.. and k-block kb (32 bf16 or 64 int8
// elements), rows and k zero-padded. Each kernel call packs weight columns
// into B panels of up to kPanel columns, [kb][column tile][16 x 64 bytes] in
// the VNNI layout (row r of a B tile holds, for each of its 16 columns, the
// k pair 2r, 2r+1 (bf16) or quad 4r..4r+3 (int8) of the k-block), and runs a
// 32 x 32 block of four C tiles over all k-blocks, ascending.
//
// Numerics:
//  - int8: TDPBSSD sums s8 x s8 products into int32 exactly (wrapping like
//    the other kernels, which cannot happen for K < 2^17).
//  - bf16: a 4-bit weight is dequantized to exactly the value the other
//    kernels use, bf16(f32(codebook[q] * absmax)) rounded to nearest even
//    (NaN kept NaN); bf16 weights are used as stored; x must hold bf16
//    values (checked while packing: the dispatcher falls back to the
//    avx512 kernels otherwise). Products of two bf16 are exact in f32, but
//    TDPBF16PS sums the 32 products of a k-block into the f32 accumulator
//    in the hardware's own order, and it treats bf16 denormal inputs as
//    zero (and flushes f32 denormal results to zero, ignoring MXCSR), so
//    results differ from the avx512 FMA chain in the last bits (and where
//    denormals matter). Each output element is still one fixed chain over
//    the k-blocks in ascending order, so results never depend on the thread
//    count.
// Each kernel call loads the tile configuration on its own thread (LDTILECFG)
// and releases the tiles (TILERELEASE) before it returns.
//
//===----------------------------------------------------------------------===//

#include "KernelsAmx.h"
#include "Avx512Shared.h"

#include <immintrin.h>

namespace bnb::rt::uk {
namespace {

/// Bytes of one tile: 16 rows of 64 bytes.
constexpr int64_t kTileBytes = 1024;

/// Columns of one packed B panel (a multiple of 32). Whole panels stay in
/// L2 next to a 32-row block of A.
constexpr int64_t kPanel = 128;

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// The LDTILECFG operand: palette 1, eight tiles of 16 rows x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

/// Loads the tile configuration on the calling thread.
void configureTiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.colsb[t] = 64;
    config.rows[t] = 16;
  }
  _tile_loadconfig(&config);
}

//===----------------------------------------------------------------------===//
// The GEMM driver
//===----------------------------------------------------------------------===//

/// Stores C tile `c` (16 x 16 4-byte elements) to `out` (row stride `ldo`
/// elements), of which `rows` x `cols` are valid. A macro: GCC's
/// _tile_stored pastes the tile number into its assembly as a literal.
#define BNB_STORE_TILE(c, out, ldo, rows, cols)                                \
  do {                                                                         \
    if ((rows) == 16 && (cols) == 16) {                                        \
      _tile_stored(c, (out), 4 * (ldo));                                       \
    } else if ((rows) > 0 && (cols) > 0) {                                     \
      alignas(64) int32_t tmp[256];                                            \
      _tile_stored(c, tmp, 64);                                                \
      for (int64_t i = 0; i < (rows); ++i)                                     \
        __builtin_memcpy((out) + i * (ldo), tmp + i * 16, 4 * (cols));         \
    }                                                                          \
  } while (0)

/// out[m0 : m0+rows, c0 : c0+cols) for rows <= 32, cols <= 32: C tiles 0-3,
/// A tiles 4-5, B tiles 6-7. `a` is the A tile row of block m0/16, `b` the
/// first B tile of the column pair in k-block 0, `bStride` the bytes between
/// k-blocks.
template <bool Int8, bool TwoRows>
void block32(const char *a, int64_t kbs, const char *b, int64_t bStride,
             int32_t *out, int64_t ldo, int64_t rows, int64_t cols) {
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (TwoRows) {
    _tile_zero(2);
    _tile_zero(3);
  }
  const char *a1 = a + kbs * kTileBytes;
  for (int64_t kb = 0; kb < kbs; ++kb) {
    _tile_loadd(4, a + kb * kTileBytes, 64);
    _tile_loadd(6, b + kb * bStride, 64);
    _tile_loadd(7, b + kb * bStride + kTileBytes, 64);
    if constexpr (Int8) {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
    } else {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
    }
    if constexpr (TwoRows) {
      _tile_loadd(5, a1 + kb * kTileBytes, 64);
      if constexpr (Int8) {
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
      } else {
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
    }
  }
  int64_t r0 = minI64(rows, 16), c0 = minI64(cols, 16);
  BNB_STORE_TILE(0, out, ldo, r0, c0);
  BNB_STORE_TILE(1, out + 16, ldo, r0, cols - 16);
  if constexpr (TwoRows) {
    BNB_STORE_TILE(2, out + 16 * ldo, ldo, rows - 16, c0);
    BNB_STORE_TILE(3, out + 16 * ldo + 16, ldo, rows - 16, cols - 16);
  }
#undef BNB_STORE_TILE
}

/// out[:, n0:n1) (4-byte elements, row stride N) = A tiles x packed B.
/// `packB(c0, cols, tiles, panel)` writes columns [c0, c0+cols) as `tiles`
/// (even) column tiles of kbs k-blocks, zero-padded.
template <bool Int8, class PackB>
void gemm(const void *aTiles, int64_t M, int64_t kbs, int32_t *out, int64_t N,
          int64_t n0, int64_t n1, PackB packB) {
  configureTiles();
  auto *panel = static_cast<char *>(
      scratch(0, static_cast<size_t>(kbs * (kPanel / 16) * kTileBytes)));
  const char *a = static_cast<const char *>(aTiles);
  for (int64_t c0 = n0; c0 < n1; c0 += kPanel) {
    int64_t cols = minI64(kPanel, n1 - c0);
    int64_t tiles = 2 * ceilDiv(cols, 32);
    packB(c0, cols, tiles, panel);
    const int64_t bStride = tiles * kTileBytes;
    for (int64_t m0 = 0; m0 < M; m0 += 32) {
      int64_t rows = minI64(32, M - m0);
      const char *am = a + (m0 / 16) * kbs * kTileBytes;
      for (int64_t j = 0; j < tiles; j += 2) {
        int32_t *o = out + m0 * N + c0 + 16 * j;
        int64_t c = minI64(32, cols - 16 * j);
        const char *b = panel + j * kTileBytes;
        if (rows > 16)
          block32<Int8, true>(am, kbs, b, bStride, o, N, rows, c);
        else
          block32<Int8, false>(am, kbs, b, bStride, o, N, rows, c);
      }
    }
  }
  _tile_release();
}

/// The B tile of k-block kb and column tile t in a panel of `tiles` tiles.
inline char *bTile(char *panel, int64_t tiles, int64_t kb, int64_t t) {
  return panel + (kb * tiles + t) * kTileBytes;
}

//===----------------------------------------------------------------------===//
// 4-bit
//===----------------------------------------------------------------------===//

/// vpermt2b indices of the 16 x 16 byte transpose (see dequantTile).
/// Constant-initialized: no code of this file runs at load time.
struct ByteTranspose {
  alignas(64) uint8_t lo8[64] = {};
  alignas(64) uint8_t hi8[64] = {};
  alignas(64) uint8_t lo16[64] = {};
  alignas(64) uint8_t hi16[64] = {};
  constexpr ByteTranspose() {
    for (int o = 0; o < 64; ++o) {
      // Step 1: output byte o = r * 8 + n of rows r (0-7 or 8-15) and
      // columns n 0-7 of two inputs of four 16-byte columns each.
      int r = o / 8, n = o % 8;
      lo8[o] = uint8_t(n < 4 ? n * 16 + r : 64 + (n - 4) * 16 + r);
      hi8[o] = uint8_t(n < 4 ? n * 16 + r + 8 : 64 + (n - 4) * 16 + r + 8);
      // Step 2: output byte o = rr * 16 + n of rows rr (0-3 or 4-7 of the
      // step-1 outputs), columns 0-7 from the first, 8-15 from the second.
      int rr = o / 16, m = o % 16;
      lo16[o] = uint8_t(m < 8 ? rr * 8 + m : 64 + rr * 8 + m - 8);
      hi16[o] = uint8_t(m < 8 ? (rr + 4) * 8 + m : 64 + (rr + 4) * 8 + m - 8);
    }
  }
};

constexpr ByteTranspose byteTranspose;

/// The absmax of 4-bit block `block` of weight rows [n, n + count) (0 past
/// count) into `scale`; returns whether a table entry may be NaN.
bool loadScales(const Linear4bitProblem &p, int64_t n, int64_t count,
                int64_t block, float *scale) {
  const int64_t blocksPerRow = p.K / p.blocksize;
  bool maybeNaN = !p.finiteCodebook;
  for (int64_t c = 0; c < 16; ++c) {
    scale[c] = c < count ? p.absmax.get((n + c) * blocksPerRow + block) : 0.0f;
    maybeNaN |= (bitsOf(scale[c]) & 0x7f800000u) == 0x7f800000u;
  }
  return maybeNaN;
}

/// Dequantizes k-block kb (32 elements, 16 packed bytes per row) of weight
/// rows [n, n + count) (count <= 16) into B tile `tile`, with the absmax
/// of each row in `scale`.
void dequantTile(const Linear4bitProblem &p, int64_t n, int64_t count,
                 int64_t kb, const __m512 &codebook, const float *scale,
                 bool maybeNaN, char *tile) {
  const int64_t half = p.K / 2;
  __m128i rowBytes[16];
  for (int64_t c = 0; c < 16; ++c) {
    if (c < count) {
      const uint8_t *row = p.packed + (n + c) * half + 16 * kb;
      // 16 row streams: prefetch 4 cache lines ahead, once per line.
      if ((kb & 3) == 0)
        _mm_prefetch(reinterpret_cast<const char *>(row) + 256, _MM_HINT_T0);
      rowBytes[c] = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row));
    } else {
      rowBytes[c] = _mm_setzero_si128();
    }
  }
  // z[g]: columns 4g..4g+3, 16 bytes each; t[h]: rows 4h..4h+3 (byte j =
  // 16 kb + r of every column), 16 bytes each.
  __m512i z[4];
  for (int g = 0; g < 4; ++g) {
    __m512i v = _mm512_castsi128_si512(rowBytes[4 * g]);
    v = _mm512_inserti32x4(v, rowBytes[4 * g + 1], 1);
    v = _mm512_inserti32x4(v, rowBytes[4 * g + 2], 2);
    z[g] = _mm512_inserti32x4(v, rowBytes[4 * g + 3], 3);
  }
  const ByteTranspose &bt = byteTranspose;
  __m512i lo8 = _mm512_load_si512(bt.lo8), hi8 = _mm512_load_si512(bt.hi8);
  __m512i lo16 = _mm512_load_si512(bt.lo16);
  __m512i hi16 = _mm512_load_si512(bt.hi16);
  __m512i p01a = _mm512_permutex2var_epi8(z[0], lo8, z[1]);
  __m512i p01b = _mm512_permutex2var_epi8(z[0], hi8, z[1]);
  __m512i p23a = _mm512_permutex2var_epi8(z[2], lo8, z[3]);
  __m512i p23b = _mm512_permutex2var_epi8(z[2], hi8, z[3]);
  alignas(64) uint8_t bytes[256];
  _mm512_store_si512(bytes, _mm512_permutex2var_epi8(p01a, lo16, p23a));
  _mm512_store_si512(bytes + 64, _mm512_permutex2var_epi8(p01a, hi16, p23a));
  _mm512_store_si512(bytes + 128, _mm512_permutex2var_epi8(p01b, lo16, p23b));
  _mm512_store_si512(bytes + 192, _mm512_permutex2var_epi8(p01b, hi16, p23b));
  const __m512 absmax = _mm512_load_ps(scale);
  const __m512i highHalf = _mm512_set1_epi32(int(0xffff0000u));
  for (int r = 0; r < 16; ++r) {
    __m512i q = _mm512_cvtepu8_epi32(
        _mm_load_si128(reinterpret_cast<const __m128i *>(bytes + 16 * r)));
    // The high nibble is the even element (the low half of the VNNI pair);
    // vpermps reads only the low 4 index bits.
    __m512 hi = _mm512_mul_ps(
        _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), codebook), absmax);
    __m512 lo = _mm512_mul_ps(_mm512_permutexvar_ps(q, codebook), absmax);
    __m512i even = _mm512_srli_epi32(roundBF16(hi, maybeNaN), 16);
    __m512i odd = _mm512_and_si512(roundBF16(lo, maybeNaN), highHalf);
    _mm512_storeu_si512(tile + 64 * r, _mm512_or_si512(even, odd));
  }
}

//===----------------------------------------------------------------------===//
// Float (bf16) weights
//===----------------------------------------------------------------------===//

/// Packs k-block kb of bf16 weight rows [n, n + count) of w [N, K] into a B
/// tile: row c of the weights is the c-th dword column of the tile.
void packBF16Transposed(const uint16_t *w, int64_t K, int64_t n, int64_t count,
                        int64_t kb, char *tile) {
  __m512i r[16];
  int64_t k0 = 32 * kb;
  __mmask32 mask = mask32(K - k0);
  for (int64_t c = 0; c < 16; ++c)
    r[c] = c < count ? _mm512_maskz_loadu_epi16(mask, w + (n + c) * K + k0)
                     : _mm512_setzero_si512();
  transpose16x16(r);
  for (int i = 0; i < 16; ++i)
    _mm512_storeu_si512(tile + 64 * i, r[i]);
}

/// Packs k-block kb of columns [n, n + count) of w [K, N] (bf16) into a B
/// tile: row i pairs w rows k0 + 2i and k0 + 2i + 1.
void packBF16(const uint16_t *w, int64_t K, int64_t N, int64_t n, int64_t count,
              int64_t kb, char *tile) {
  __mmask16 mask = mask16(count);
  int64_t k0 = 32 * kb;
  for (int i = 0; i < 16; ++i) {
    int64_t k = k0 + 2 * i;
    __m512i even = k < K ? _mm512_cvtepu16_epi32(
                               _mm256_maskz_loadu_epi16(mask, w + k * N + n))
                         : _mm512_setzero_si512();
    __m512i odd = k + 1 < K ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(
                                  mask, w + (k + 1) * N + n))
                            : _mm512_setzero_si512();
    _mm512_storeu_si512(tile + 64 * i,
                        _mm512_or_si512(even, _mm512_slli_epi32(odd, 16)));
  }
}

//===----------------------------------------------------------------------===//
// int8
//===----------------------------------------------------------------------===//

/// Packs k-block kb (64 elements) of rows [n, n + count) of b [N, K] into a
/// B tile: row c of b is the c-th dword (quad) column of the tile.
void packI8(const int8_t *b, int64_t K, int64_t n, int64_t count, int64_t kb,
            char *tile) {
  __m512i r[16];
  int64_t k0 = 64 * kb;
  __mmask64 mask = mask64(K - k0);
  for (int64_t c = 0; c < 16; ++c)
    r[c] = c < count ? _mm512_maskz_loadu_epi8(mask, b + (n + c) * K + k0)
                     : _mm512_setzero_si512();
  transpose16x16(r);
  for (int i = 0; i < 16; ++i)
    _mm512_storeu_si512(tile + 64 * i, r[i]);
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

size_t amxTileBytes(int64_t M, int64_t K, int elementBytes) {
  int64_t kbs = ceilDiv(K * elementBytes, 64);
  return static_cast<size_t>(ceilDiv(M, 16) * kbs * kTileBytes);
}

bool amxPackBF16Rows(const float *x, int64_t M, int64_t K, void *tiles) {
  const int64_t kbs = ceilDiv(K, 32), Mp = ceilDiv(M, 16) * 16;
  char *base = static_cast<char *>(tiles);
  __m512i inexact = _mm512_setzero_si512();
  for (int64_t m = 0; m < Mp; ++m)
    for (int64_t kb = 0; kb < kbs; ++kb) {
      char *dst = base + ((m / 16) * kbs + kb) * kTileBytes + (m % 16) * 64;
      if (m >= M) {
        _mm512_storeu_si512(dst, _mm512_setzero_si512());
        continue;
      }
      int64_t k0 = 32 * kb, n = minI64(32, K - k0);
      const float *row = x + m * K + k0;
      __m512i u0 = _mm512_maskz_loadu_epi32(mask16(n), row);
      __m512i u1 =
          _mm512_maskz_loadu_epi32(mask16(n > 16 ? n - 16 : 0), row + 16);
      inexact = _mm512_or_si512(inexact, _mm512_or_si512(u0, u1));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst),
                          _mm512_cvtepi32_epi16(_mm512_srli_epi32(u0, 16)));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + 32),
                          _mm512_cvtepi32_epi16(_mm512_srli_epi32(u1, 16)));
    }
  return _mm512_test_epi32_mask(inexact, _mm512_set1_epi32(0xffff)) == 0;
}

void amxPackI8Rows(const int8_t *a, int64_t M, int64_t K, void *tiles) {
  const int64_t kbs = ceilDiv(K, 64), Mp = ceilDiv(M, 16) * 16;
  char *base = static_cast<char *>(tiles);
  for (int64_t m = 0; m < Mp; ++m)
    for (int64_t kb = 0; kb < kbs; ++kb) {
      char *dst = base + ((m / 16) * kbs + kb) * kTileBytes + (m % 16) * 64;
      __m512i v = _mm512_setzero_si512();
      if (m < M)
        v = _mm512_maskz_loadu_epi8(mask64(K - 64 * kb), a + m * K + 64 * kb);
      _mm512_storeu_si512(dst, v);
    }
}

void amxLinear4bit(const AmxLinear4bitProblem &ap, int64_t n0, int64_t n1) {
  const Linear4bitProblem &p = ap.p;
  const int64_t kbs = p.K / 32;
  const __m512 codebook = _mm512_loadu_ps(p.codebook);
  gemm<false>(ap.aTiles, p.M, kbs, reinterpret_cast<int32_t *>(p.out), p.N, n0,
              n1, [&](int64_t c0, int64_t cols, int64_t tiles, char *panel) {
                alignas(64) float scale[16];
                const int64_t kbsPerBlock = p.blocksize / 32;
                for (int64_t t = 0; t < tiles; ++t) {
                  int64_t n = c0 + 16 * t, count = minI64(16, cols - n + c0);
                  bool maybeNaN = false;
                  for (int64_t kb = 0; kb < kbs; ++kb) {
                    if (kb % kbsPerBlock == 0)
                      maybeNaN =
                          loadScales(p, n, count, kb / kbsPerBlock, scale);
                    dequantTile(p, n, count, kb, codebook, scale, maybeNaN,
                                bTile(panel, tiles, kb, t));
                  }
                }
              });
}

void amxMatmulBF16(const AmxMatmulProblem &ap, int64_t n0, int64_t n1) {
  const MatmulProblem &p = ap.p;
  const int64_t kbs = ceilDiv(p.K, 32);
  const auto *w = static_cast<const uint16_t *>(p.w);
  gemm<false>(ap.aTiles, p.M, kbs, reinterpret_cast<int32_t *>(p.out), p.N, n0,
              n1, [&](int64_t c0, int64_t cols, int64_t tiles, char *panel) {
                for (int64_t t = 0; t < tiles; ++t) {
                  int64_t count = minI64(16, cols - 16 * t);
                  for (int64_t kb = 0; kb < kbs; ++kb) {
                    char *tile = bTile(panel, tiles, kb, t);
                    if (count <= 0)
                      __builtin_memset(tile, 0, kTileBytes);
                    else if (p.transposed)
                      packBF16Transposed(w, p.K, c0 + 16 * t, count, kb, tile);
                    else
                      packBF16(w, p.K, p.N, c0 + 16 * t, count, kb, tile);
                  }
                }
              });
}

void amxInt8(const AmxInt8Problem &ap, int64_t n0, int64_t n1) {
  const Int8Problem &p = ap.p;
  const int64_t kbs = ceilDiv(p.K, 64);
  gemm<true>(ap.aTiles, p.M, kbs, p.out, p.N, n0, n1,
             [&](int64_t c0, int64_t cols, int64_t tiles, char *panel) {
               for (int64_t t = 0; t < tiles; ++t) {
                 int64_t count = minI64(16, cols - 16 * t);
                 for (int64_t kb = 0; kb < kbs; ++kb)
                   packI8(p.b, p.K, c0 + 16 * t, count, kb,
                          bTile(panel, tiles, kb, t));
               }
             });
}

} // namespace bnb::rt::uk
