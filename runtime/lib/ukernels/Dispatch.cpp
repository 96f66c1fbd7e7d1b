//===- Dispatch.cpp - entry points of the CPU microkernels ----------------===//
//
// Reads and validates the memref descriptors, picks the instruction set once,
// prepares per-call data (x split into even/odd elements for the 4-bit GEMV,
// a sign-extended to int16 for int8) and splits the output columns over the
// thread pool in whole kColumnTile tiles.
//
//===----------------------------------------------------------------------===//

#include "bnb_ukernels.h"

#include "../ErrorState.h"
#include "../MemRefDescriptor.h"
#include "Kernels.h"
#include "KernelsAmx.h"
#include "KernelsAvx512Bf16.h"
#include "KernelsAvx512Bf16Gemm.h"
#include "KernelsAvx512Vnni.h"
#include "KernelsRepacked.h"
#include "TestHooks.h"
#include "ThreadPool.h"

#include <cpuid.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

using namespace bnb::rt;
using namespace bnb::rt::uk;

namespace {

//===----------------------------------------------------------------------===//
// Instruction set
//===----------------------------------------------------------------------===//

/// The CPU has AMX-TILE/INT8/BF16, AVX512-BF16 and AVX512-VBMI, and the
/// kernel grants this process the AMX tile data state. Asked once per
/// process (the permission holds for all its threads).
bool amxPermitted() {
  static const bool permitted = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
      return false;
    bool amx = (d >> 22 & 1) && (d >> 24 & 1) && (d >> 25 & 1);
    bool vbmi = c >> 1 & 1;
    if (!amx || !vbmi || !__get_cpuid_count(7, 1, &a, &b, &c, &d))
      return false;
    bool avx512bf16 = a >> 5 & 1;
    // ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA.
    return avx512bf16 && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return permitted;
}

bool supports(Isa isa) {
  switch (isa) {
  case Isa::Amx:
    return supports(Isa::Avx512) && amxPermitted();
  case Isa::Generic:
    return true;
  case Isa::Avx2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  case Isa::Avx512:
    return supports(Isa::Avx2) && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
  }
  return false;
}

const char *isaName(Isa isa) {
  switch (isa) {
  case Isa::Amx:
    return "amx";
  case Isa::Avx512:
    return "avx512";
  case Isa::Avx2:
    return "avx2";
  case Isa::Generic:
    break;
  }
  return "generic";
}

bool parseIsa(const char *name, Isa &isa) {
  for (Isa candidate : {Isa::Amx, Isa::Avx512, Isa::Avx2, Isa::Generic})
    if (std::strcmp(name, isaName(candidate)) == 0) {
      isa = candidate;
      return true;
    }
  return false;
}

/// The best supported set, capped by BNB_UKERNEL_ISA (an unknown value is
/// ignored).
Isa defaultIsa() {
  Isa best = Isa::Generic;
  for (Isa candidate : {Isa::Amx, Isa::Avx512, Isa::Avx2})
    if (supports(candidate)) {
      best = candidate;
      break;
    }
  Isa cap;
  const char *env = std::getenv("BNB_UKERNEL_ISA");
  if (env && parseIsa(env, cap) && cap < best)
    best = cap;
  return best;
}

std::atomic<int> &currentIsaSlot() {
  static std::atomic<int> slot{static_cast<int>(defaultIsa())};
  return slot;
}

Isa currentIsa() {
  return static_cast<Isa>(currentIsaSlot().load(std::memory_order_relaxed));
}

const KernelSet &kernels() {
  switch (currentIsa()) {
  case Isa::Amx: // the AMX GEMM is called separately (useAmx)
  case Isa::Avx512:
    return avx512Kernels();
  case Isa::Avx2:
    return avx2Kernels();
  case Isa::Generic:
    break;
  }
  return genericKernels();
}

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

std::mutex poolMutex;
int numThreads = 0; // 0 until first use; guarded by poolMutex
std::shared_ptr<ThreadPool> pool;

int defaultNumThreads() {
  if (const char *env = std::getenv("BNB_NUM_THREADS")) {
    char *end = nullptr;
    errno = 0;
    long n = std::strtol(env, &end, 10);
    if (errno == 0 && end != env && *end == '\0' && n >= 1 && n <= 4096)
      return static_cast<int>(n);
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  return 1;
}

int threadsLocked() {
  if (numThreads == 0)
    numThreads = defaultNumThreads();
  return numThreads;
}

std::shared_ptr<ThreadPool> currentPool() {
  std::lock_guard<std::mutex> lock(poolMutex);
  int n = threadsLocked();
  if (n <= 1)
    return nullptr;
  if (!pool || pool->numThreads() != n)
    pool = std::make_shared<ThreadPool>(n);
  return pool;
}

} // namespace

void bnb::rt::uk::parallelChunks(int64_t chunks, void (*body)(void *, int64_t),
                                 void *context) {
  std::shared_ptr<ThreadPool> threads = chunks > 1 ? currentPool() : nullptr;
  if (threads) {
    threads->parallelFor(chunks, body, context);
    return;
  }
  for (int64_t i = 0; i < chunks; ++i)
    body(context, i);
}

namespace {

/// Below this many multiply-adds the call runs on the calling thread: waking
/// the workers costs more than it saves.
constexpr int64_t kInlineWork = 64 * 1024;

/// Runs `kernel(problem, n0, n1)` over [0, N) in whole kColumnTile tiles.
template <typename Problem>
void runColumns(void (*kernel)(const Problem &, int64_t, int64_t),
                const Problem &problem, int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0)
    return;
  int64_t tiles = (N + kColumnTile - 1) / kColumnTile;
  std::shared_ptr<ThreadPool> threads;
  if (M * N * (K > 0 ? K : 1) >= kInlineWork && tiles > 1)
    threads = currentPool();
  if (!threads) {
    kernel(problem, 0, N);
    return;
  }
  // A few chunks per thread balance the load; chunks hold whole tiles, so
  // which thread computes a column never changes the column's result.
  int64_t chunks = std::min<int64_t>(tiles, 4 * threads->numThreads());
  struct Context {
    void (*kernel)(const Problem &, int64_t, int64_t);
    const Problem *problem;
    int64_t N, tiles, chunks;
  } context{kernel, &problem, N, tiles, chunks};
  threads->parallelFor(
      chunks,
      [](void *opaque, int64_t chunk) {
        auto *c = static_cast<Context *>(opaque);
        int64_t t0 = chunk * c->tiles / c->chunks;
        int64_t t1 = (chunk + 1) * c->tiles / c->chunks;
        int64_t n0 = t0 * kColumnTile;
        int64_t n1 = std::min(c->N, t1 * kColumnTile);
        if (n0 < n1)
          c->kernel(*c->problem, n0, n1);
      },
      &context);
}

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

/// A descriptor of `rank` that must be dense row-major; records an error
/// naming `kernel` and `what` otherwise.
bool denseView(const char *kernel, const char *what, void *descriptor,
               int64_t rank, MemRefView &view) {
  if (!descriptor) {
    recordError(format("%s: %s is null", kernel, what));
    return false;
  }
  view = MemRefView::of(descriptor, rank);
  for (int64_t i = 0; i < rank; ++i)
    if (view.sizes[i] < 0) {
      recordError(format("%s: %s has a negative size", kernel, what));
      return false;
    }
  if (!view.isRowMajorDense()) {
    recordError(format("%s: %s is not dense row-major", kernel, what));
    return false;
  }
  return true;
}

/// Checks that `view` (rank 1) has `expected` elements.
bool checkSize(const char *kernel, const char *what, const MemRefView &view,
               int64_t expected, int64_t M, int64_t N, int64_t K) {
  if (view.sizes[0] == expected)
    return true;
  recordError(format("%s: %s has %lld elements, expected %lld for m=%lld "
                     "n=%lld k=%lld",
                     kernel, what, (long long)view.sizes[0],
                     (long long)expected, (long long)M, (long long)N,
                     (long long)K));
  return false;
}

/// Checks out [M, N] against x [M, K]: the rows must agree.
bool checkRows(const char *kernel, const MemRefView &out, const MemRefView &x,
               const char *xName) {
  if (out.sizes[0] == x.sizes[0])
    return true;
  recordError(format("%s: out is %lldx%lld but %s is %lldx%lld", kernel,
                     (long long)out.sizes[0], (long long)out.sizes[1], xName,
                     (long long)x.sizes[0], (long long)x.sizes[1]));
  return false;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// The GEMM of M rows takes the AMX kernels (KernelsAmx.h).
bool useAmx(int64_t M) { return M >= kAmxMinRows && currentIsa() == Isa::Amx; }

/// The calling thread's buffer of packed A tiles (scratch slot 3: the
/// kernels it runs use slots 0 and 1).
void *amxTiles(int64_t M, int64_t K, int elementBytes) {
  return scratch(3, amxTileBytes(M, K, elementBytes));
}

/// 4-bit GEMV calls that took the AVX512-BF16 kernel (test hook).
std::atomic<uint64_t> bf16GemvCalls{0};

/// Batch-1 4-bit calls that took a repacked weight (test hook).
std::atomic<uint64_t> repackedGemvCalls{0};

/// GEMM calls that took the AVX512-BF16 kernel (test hook).
std::atomic<uint64_t> bf16GemmCalls{0};

/// int8 GEMM calls that took the AVX512-VNNI kernel (test hook).
std::atomic<uint64_t> vnniGemmCalls{0};

/// The CPU has AVX512-BF16 and the avx512 kernels run.
bool useBf16Kernels() {
  static const bool bf16 = __builtin_cpu_supports("avx512bf16");
  return bf16 && currentIsa() >= Isa::Avx512;
}

/// Packs x [M, K] for the AVX512-BF16 GEMM into the calling thread's buffer;
/// null when x holds some value that is not a bf16.
const uint16_t *packBf16Rows(const float *x, int64_t M, int64_t K) {
  thread_local std::vector<uint16_t> packed;
  packed.resize(static_cast<size_t>(M * bf16PairRowLength(K)));
  if (!avx512Bf16PackRows(x, M, K, packed.data()))
    return nullptr;
  bf16GemmCalls.fetch_add(1, std::memory_order_relaxed);
  return packed.data();
}

/// Splits x [M, K] (K even) into even and odd elements, [M][K/2] each.
void splitEvenOdd(const float *x, int64_t M, int64_t K,
                  std::vector<float> &even, std::vector<float> &odd) {
  int64_t half = K / 2;
  even.resize(static_cast<size_t>(M * half));
  odd.resize(static_cast<size_t>(M * half));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < half; ++j) {
      even[m * half + j] = x[m * K + 2 * j];
      odd[m * half + j] = x[m * K + 2 * j + 1];
    }
}

void linear4bit(const char *kernel, void *outD, void *xD, void *packedD,
                AbsmaxSource absmax, int64_t absmaxCount, void *codebookD,
                int64_t blocksize, int64_t compute) {
  MemRefView out, x, packed, codebook;
  if (!denseView(kernel, "out", outD, 2, out) ||
      !denseView(kernel, "x", xD, 2, x) ||
      !denseView(kernel, "packed", packedD, 1, packed) ||
      !denseView(kernel, "codebook", codebookD, 1, codebook))
    return;
  int64_t M = x.sizes[0], K = x.sizes[1], N = out.sizes[1];
  if (!checkRows(kernel, out, x, "x"))
    return;
  if (blocksize <= 0) {
    recordError(format("%s: blocksize %lld is not positive", kernel,
                       (long long)blocksize));
    return;
  }
  if (compute < BNBRT_UK_F32 || compute > BNBRT_UK_BF16) {
    recordError(format("%s: unknown compute dtype %lld", kernel,
                       (long long)compute));
    return;
  }
  if (!checkSize(kernel, "packed", packed, ceilDiv(N * K, 2), M, N, K) ||
      !checkSize(kernel, "codebook", codebook, 16, M, N, K))
    return;
  if (absmaxCount != ceilDiv(N * K, blocksize)) {
    recordError(format("%s: absmax has %lld blocks, expected %lld for n=%lld "
                       "k=%lld blocksize=%lld",
                       kernel, (long long)absmaxCount,
                       (long long)ceilDiv(N * K, blocksize), (long long)N,
                       (long long)K, (long long)blocksize));
    return;
  }
  Linear4bitProblem p;
  p.out = reinterpret_cast<float *>(out.data(4));
  p.x = reinterpret_cast<const float *>(x.data(4));
  p.M = M;
  p.N = N;
  p.K = K;
  p.packed = reinterpret_cast<const uint8_t *>(packed.data(1));
  p.absmax = absmax;
  p.codebook = reinterpret_cast<const float *>(codebook.data(4));
  p.blocksize = blocksize;
  p.compute = static_cast<int>(compute);
  p.finiteCodebook = true;
  for (int i = 0; i < 16; ++i)
    p.finiteCodebook &= (bitsOf(p.codebook[i]) & 0x7f800000u) != 0x7f800000u;
  if (useAmx(M) && p.compute == kBF16 && p.fastPath()) {
    // x holds bf16 values unless the caller skipped the rounding.
    void *tiles = amxTiles(M, K, 2);
    if (amxPackBF16Rows(p.x, M, K, tiles)) {
      runColumns(amxLinear4bit, AmxLinear4bitProblem{p, tiles}, M, N, K);
      return;
    }
  }
  if (M >= kBf16GemmMin4bitRows && p.compute == kBF16 && p.fastPath() &&
      useBf16Kernels()) {
    // Without AMX (or where it declined): vdpbf16ps, twice an FMA's work.
    if (const uint16_t *xPacked = packBf16Rows(p.x, M, K)) {
      runColumns(avx512Bf16GemmLinear4bit,
                 Bf16GemmLinear4bitProblem{p, xPacked}, M, N, K);
      return;
    }
  }
  thread_local std::vector<float> even, odd;
  if (p.fastPath() && M <= kGemvMaxRows && currentIsa() != Isa::Generic) {
    splitEvenOdd(p.x, M, K, even, odd);
    p.xEven = even.data();
    p.xOdd = odd.data();
  }
  auto run = kernels().linear4bit;
  // bf16 compute GEMV: vdpbf16ps on bf16 tables and a bf16 copy of x.
  thread_local std::vector<uint16_t> xBf16;
  if (p.xEven && p.compute == kBF16 && useBf16Kernels()) {
    xBf16.resize(static_cast<size_t>(M * K));
    p.xEvenBf16 = xBf16.data();
    p.xOddBf16 = xBf16.data() + M * (K / 2);
    avx512Bf16SplitX(p.x, M, K, xBf16.data(), xBf16.data() + M * (K / 2));
    run = avx512Bf16Linear4bit;
  }
  // Batch 1 on weights declared immutable: their repacked copy, 16 rows
  // interleaved (Repacked4bit.h). bf16 compute needs the vdpbf16ps kernel.
  if (M == 1 && p.xEven && currentIsa() >= Isa::Avx512 &&
      (p.compute != kBF16 || p.xEvenBf16)) {
    if (const Repacked4bit *r = repacked4bit(p)) {
      repackedGemvCalls.fetch_add(1, std::memory_order_relaxed);
      runColumns(p.xEvenBf16 ? avx512Bf16RepackedGemv : avx512RepackedGemv,
                 RepackedGemvProblem{p, r}, M, N, K);
      return;
    }
  }
  if (run == avx512Bf16Linear4bit)
    bf16GemvCalls.fetch_add(1, std::memory_order_relaxed);
  runColumns(run, p, M, N, K);
}

void matmul(const char *kernel, void *outD, void *xD, void *wD,
            int64_t transposed, int wdtype) {
  MemRefView out, x, w;
  if (!denseView(kernel, "out", outD, 2, out) ||
      !denseView(kernel, "x", xD, 2, x) || !denseView(kernel, "w", wD, 2, w))
    return;
  if (!checkRows(kernel, out, x, "x"))
    return;
  int64_t M = x.sizes[0], K = x.sizes[1], N = out.sizes[1];
  int64_t wantRows = transposed ? N : K, wantCols = transposed ? K : N;
  if (w.sizes[0] != wantRows || w.sizes[1] != wantCols) {
    recordError(format("%s: w is %lldx%lld, expected %lldx%lld for m=%lld "
                       "n=%lld k=%lld transposed=%d",
                       kernel, (long long)w.sizes[0], (long long)w.sizes[1],
                       (long long)wantRows, (long long)wantCols, (long long)M,
                       (long long)N, (long long)K, transposed ? 1 : 0));
    return;
  }
  MatmulProblem p;
  p.out = reinterpret_cast<float *>(out.data(4));
  p.x = reinterpret_cast<const float *>(x.data(4));
  p.w = w.data(wdtype == kF32 ? 4 : 2);
  p.M = M;
  p.N = N;
  p.K = K;
  p.wdtype = wdtype;
  p.transposed = transposed != 0;
  if (useAmx(M) && wdtype == kBF16) {
    // Only when every x is a bf16 value: the products are then exact.
    void *tiles = amxTiles(M, K, 2);
    if (amxPackBF16Rows(p.x, M, K, tiles)) {
      runColumns(amxMatmulBF16, AmxMatmulProblem{p, tiles}, M, N, K);
      return;
    }
  }
  if (M >= kBf16GemmMinBf16Rows && wdtype == kBF16 && p.transposed &&
      useBf16Kernels()) {
    if (const uint16_t *xPacked = packBf16Rows(p.x, M, K)) {
      runColumns(avx512Bf16GemmMatmul, Bf16GemmMatmulProblem{p, xPacked}, M,
                 N, K);
      return;
    }
  }
  runColumns(kernels().matmul, p, M, N, K);
}

} // namespace

//===----------------------------------------------------------------------===//
// C ABI
//===----------------------------------------------------------------------===//

extern "C" {

BNBRT_API void _mlir_ciface_bnbrt_uk_linear_4bit(void *out, void *x,
                                                 void *packed, void *absmax,
                                                 void *codebook,
                                                 int64_t blocksize,
                                                 int64_t compute) {
  const char *kernel = "bnbrt_uk_linear_4bit";
  if (hasError())
    return;
  MemRefView a;
  if (!denseView(kernel, "absmax", absmax, 1, a))
    return;
  AbsmaxSource source;
  source.absmax = reinterpret_cast<const float *>(a.data(4));
  linear4bit(kernel, out, x, packed, source, a.sizes[0], codebook, blocksize,
             compute);
}

BNBRT_API void _mlir_ciface_bnbrt_uk_linear_4bit_dq(
    void *out, void *x, void *packed, void *codes, void *nested, void *code8,
    void *codebook, int64_t blocksize, int64_t nestedBlocksize, float offset,
    int64_t compute) {
  const char *kernel = "bnbrt_uk_linear_4bit_dq";
  if (hasError())
    return;
  MemRefView c, n, c8;
  if (!denseView(kernel, "codes", codes, 1, c) ||
      !denseView(kernel, "nested", nested, 1, n) ||
      !denseView(kernel, "code8", code8, 1, c8))
    return;
  if (nestedBlocksize <= 0) {
    recordError(format("%s: nested blocksize %lld is not positive", kernel,
                       (long long)nestedBlocksize));
    return;
  }
  if (c8.sizes[0] != 256) {
    recordError(format("%s: code8 has %lld elements, expected 256", kernel,
                       (long long)c8.sizes[0]));
    return;
  }
  int64_t nblocks = c.sizes[0];
  if (n.sizes[0] != ceilDiv(nblocks, nestedBlocksize)) {
    recordError(format("%s: nested has %lld elements, expected %lld for "
                       "%lld blocks of nested blocksize %lld",
                       kernel, (long long)n.sizes[0],
                       (long long)ceilDiv(nblocks, nestedBlocksize),
                       (long long)nblocks, (long long)nestedBlocksize));
    return;
  }
  AbsmaxSource source;
  source.codes = reinterpret_cast<const uint8_t *>(c.data(1));
  source.nested = reinterpret_cast<const float *>(n.data(4));
  source.code8 = reinterpret_cast<const float *>(c8.data(4));
  source.nestedBlocksize = nestedBlocksize;
  source.offset = offset;
  linear4bit(kernel, out, x, packed, source, nblocks, codebook, blocksize,
             compute);
}

BNBRT_API void _mlir_ciface_bnbrt_uk_matmul_f32(void *out, void *x, void *w,
                                                int64_t transposed) {
  if (!hasError())
    matmul("bnbrt_uk_matmul_f32", out, x, w, transposed, kF32);
}

BNBRT_API void _mlir_ciface_bnbrt_uk_matmul_f16(void *out, void *x, void *w,
                                                int64_t transposed) {
  if (!hasError())
    matmul("bnbrt_uk_matmul_f16", out, x, w, transposed, kF16);
}

BNBRT_API void _mlir_ciface_bnbrt_uk_matmul_bf16(void *out, void *x, void *w,
                                                 int64_t transposed) {
  if (!hasError())
    matmul("bnbrt_uk_matmul_bf16", out, x, w, transposed, kBF16);
}

BNBRT_API void _mlir_ciface_bnbrt_uk_int8_matmul(void *outD, void *aD,
                                                 void *bD) {
  const char *kernel = "bnbrt_uk_int8_matmul";
  if (hasError())
    return;
  MemRefView out, a, b;
  if (!denseView(kernel, "out", outD, 2, out) ||
      !denseView(kernel, "a", aD, 2, a) || !denseView(kernel, "b", bD, 2, b))
    return;
  if (!checkRows(kernel, out, a, "a"))
    return;
  int64_t M = a.sizes[0], K = a.sizes[1], N = out.sizes[1];
  if (b.sizes[0] != N || b.sizes[1] != K) {
    recordError(format("%s: b is %lldx%lld, expected %lldx%lld for m=%lld "
                       "n=%lld k=%lld",
                       kernel, (long long)b.sizes[0], (long long)b.sizes[1],
                       (long long)N, (long long)K, (long long)M, (long long)N,
                       (long long)K));
    return;
  }
  Int8Problem p;
  p.out = reinterpret_cast<int32_t *>(out.data(4));
  p.a = reinterpret_cast<const int8_t *>(a.data(1));
  p.b = reinterpret_cast<const int8_t *>(b.data(1));
  p.M = M;
  p.N = N;
  p.K = K;
  if (useAmx(M)) {
    void *tiles = amxTiles(M, K, 1);
    amxPackI8Rows(p.a, M, K, tiles);
    runColumns(amxInt8, AmxInt8Problem{p, tiles}, M, N, K);
    return;
  }
  static const bool vnni = __builtin_cpu_supports("avx512vnni");
  if (M >= kVnniGemmMinRows && vnni && currentIsa() >= Isa::Avx512) {
    // Without AMX: vpdpbusd, twice vpmaddwd's multiply-adds.
    thread_local std::vector<uint8_t> packed;
    packed.resize(static_cast<size_t>(M * vnniRowLength(K)));
    avx512VnniPackRows(p.a, M, K, packed.data());
    vnniGemmCalls.fetch_add(1, std::memory_order_relaxed);
    runColumns(avx512VnniInt8, VnniInt8Problem{p, packed.data()}, M, N, K);
    return;
  }
  thread_local std::vector<int16_t> a16;
  if (currentIsa() != Isa::Generic) {
    // Sign-extended once per call, K padded to even with zeros, so that the
    // kernels multiply int16 pairs exactly (vpmaddwd).
    p.K2 = K + (K & 1);
    a16.assign(static_cast<size_t>(M * p.K2), 0);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k)
        a16[m * p.K2 + k] = p.a[m * K + k];
    p.a16 = a16.data();
  }
  runColumns(kernels().int8, p, M, N, K);
}

BNBRT_API int bnbrt_set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(poolMutex);
  if (n < 0) {
    recordError(format("bnbrt_set_num_threads: %d threads is negative", n));
    return threadsLocked();
  }
  numThreads = n == 0 ? defaultNumThreads() : n;
  // The pool is rebuilt at its next use; a call running now keeps the old
  // one alive through its shared_ptr.
  if (pool && pool->numThreads() != numThreads)
    pool.reset();
  return numThreads;
}

BNBRT_API int bnbrt_get_num_threads(void) {
  std::lock_guard<std::mutex> lock(poolMutex);
  return threadsLocked();
}

BNBRT_API const char *bnbrt_ukernel_isa(void) {
  return isaName(currentIsa());
}

BNBRT_API void bnbrt_ukernel_bf16_gemv_stats(uint64_t *calls,
                                             uint64_t *fallbackBlocks) {
  *calls = bf16GemvCalls.load(std::memory_order_relaxed);
  *fallbackBlocks = __atomic_load_n(&bf16GemvFallbackBlocks, __ATOMIC_RELAXED);
}

BNBRT_API uint64_t bnbrt_ukernel_bf16_gemm_calls(void) {
  return bf16GemmCalls.load(std::memory_order_relaxed);
}

BNBRT_API void bnbrt_ukernel_repack_stats(uint64_t *calls, uint64_t *repacked) {
  *calls = repackedGemvCalls.load(std::memory_order_relaxed);
  *repacked = repackedCount();
}

BNBRT_API uint64_t bnbrt_ukernel_vnni_gemm_calls(void) {
  return vnniGemmCalls.load(std::memory_order_relaxed);
}

BNBRT_API int bnbrt_ukernel_force_isa(const char *name) {
  Isa isa = Isa::Generic;
  if (!name)
    isa = defaultIsa();
  else if (!parseIsa(name, isa) || !supports(isa))
    return -1;
  currentIsaSlot().store(static_cast<int>(isa), std::memory_order_relaxed);
  return 0;
}

} // extern "C"
