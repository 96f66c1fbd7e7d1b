//===- UkernelBench.cpp - CPU microkernel throughput ----------------------===//
//
// Baseline: a STREAM-like copy (memcpy of 256 MiB split over the threads).
// Its `read_bytes_per_second` (bytes READ per second, i.e. copied bytes) is
// the figure the GEMV weight bandwidth compares with like for like: a GEMV
// reads its weights once and writes almost nothing.
//
// Kernels: NF4 (f32 absmax and double quant, compute bf16), int8 and f16
// matmul at M=1 on 4096x4096, 11008x4096 and 4096x11008 (N x K), and M=128,
// 512 on 11008x4096. `weight_bytes_per_second` counts the bytes of the
// weight and its absmax (codes and nested absmax with double quant); the
// GFLOP counter (printed as GFLOP=x/s) counts 2*M*N*K. Weights are
// replicated to at least 1 GiB and the copies used in turn, so no run reads
// them from a cache (L3 may be hundreds of MiB on servers).
// BM_Bf16 is the bf16-weight matmul with x holding bf16 values (the amx
// level takes the AMX kernel): the like-for-like figure for torch's bf16
// F.linear.
// BNB_BENCH_IN_CACHE=1 uses one copy instead (weights warm in L2/L3, as
// bitsandbytes' own CPU benchmarks run) and copies 8 MiB in BM_Copy.
// The weights are declared immutable, as bnb-run declares a model's, so
// batch-1 4-bit calls run on repacked copies, made before the timing
// (BNB_UKERNEL_REPACK=0 measures the row-major kernels).
//
// Threads: bnbrt's default (BNB_NUM_THREADS, else the CPUs available).
//
//===----------------------------------------------------------------------===//

#include "bnb_runtime.h"
#include "bnb_ukernels.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace {

/// BNB_BENCH_IN_CACHE=1: one copy of the weights, reused every iteration.
bool inCache() {
  static const bool set = [] {
    const char *v = std::getenv("BNB_BENCH_IN_CACHE");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return set;
}

template <int R> struct Desc {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[R];
  int64_t strides[R];
};

Desc<1> desc1(void *p, int64_t n) { return {p, p, 0, {n}, {1}}; }
Desc<2> desc2(void *p, int64_t rows, int64_t cols) {
  return {p, p, 0, {rows, cols}, {cols, 1}};
}

/// `bytes` of pseudo-random data.
std::vector<uint8_t> randomBytes(size_t bytes, uint32_t seed) {
  std::vector<uint8_t> v(bytes);
  uint32_t s = seed * 2654435761u + 1;
  for (uint8_t &b : v) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24);
  }
  return v;
}

/// A range declared to the microkernels as immutable weights for the
/// object's lifetime, as bnb-run declares a model's weights: the batch-1
/// 4-bit linears may then use their repacked copies (BNB_UKERNEL_REPACK=0
/// measures without them).
struct Immutable {
  const void *data;
  Immutable(const void *data, size_t bytes) : data(data) {
    bnbrt_uk_weights_register(data, bytes);
  }
  ~Immutable() { bnbrt_uk_weights_release(data); }
  Immutable(const Immutable &) = delete;
  Immutable &operator=(const Immutable &) = delete;
};

/// `bytes` of data replicated into copies totalling at least 1 GiB.
struct Replicated {
  std::vector<uint8_t> storage;
  size_t bytes = 0, copies = 0, next = 0;
  std::unique_ptr<Immutable> immutable;
  Replicated(const std::vector<uint8_t> &one) : bytes(one.size()) {
    size_t stride = (bytes + 63) / 64 * 64;
    copies =
        inCache()
            ? 1
            : std::max<size_t>(1, ((size_t(1) << 30) + stride - 1) / stride);
    storage.resize(stride * copies);
    for (size_t c = 0; c < copies; ++c)
      std::memcpy(storage.data() + c * stride, one.data(), bytes);
    immutable = std::make_unique<Immutable>(storage.data(), storage.size());
  }
  uint8_t *take() {
    size_t stride = (bytes + 63) / 64 * 64;
    uint8_t *p = storage.data() + (next % copies) * stride;
    ++next;
    return p;
  }
};

void BM_Copy(benchmark::State &state) {
  const size_t bytes = inCache() ? size_t(8) << 20 : size_t(256) << 20;
  int threads = static_cast<int>(state.range(0));
  std::vector<uint8_t> src(bytes, 1), dst(bytes, 2);
  for (auto _ : state) {
    std::vector<std::thread> workers;
    size_t part = bytes / threads;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        std::memcpy(dst.data() + t * part, src.data() + t * part, part);
      });
    for (std::thread &w : workers)
      w.join();
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  double n = double(state.iterations()) * bytes;
  state.counters["read_bytes_per_second"] =
      benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["read_plus_written_per_second"] =
      benchmark::Counter(2 * n, benchmark::Counter::kIsRate);
}

void setCounters(benchmark::State &state, double weightBytes, int64_t M,
                 int64_t N, int64_t K) {
  double it = double(state.iterations());
  state.counters["weight_bytes_per_second"] =
      benchmark::Counter(it * weightBytes, benchmark::Counter::kIsRate);
  if (M > 1)
    state.counters["GFLOP"] = benchmark::Counter(
        it * 2.0 * M * N * K * 1e-9, benchmark::Counter::kIsRate);
  state.counters["threads"] = bnbrt_get_num_threads();
}

/// NF4 (+ double quant) linear with `compute` (BNBRT_UK_BF16 or _F32).
void runNf4(benchmark::State &state, int64_t compute) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool dq = state.range(3) != 0;
  const int64_t bs = 64, nblocks = N * K / bs;
  const int64_t nestedCount = (nblocks + 255) / 256;
  // Layout of one copy: packed bytes, then absmax (f32) or codes (u8).
  size_t packedBytes = size_t(N * K / 2);
  size_t absBytes = dq ? size_t(nblocks) : size_t(nblocks) * 4;
  std::vector<uint8_t> one = randomBytes(packedBytes + absBytes + 64, 1);
  if (!dq) {
    auto *a = reinterpret_cast<float *>(one.data() + packedBytes);
    for (int64_t b = 0; b < nblocks; ++b)
      a[b] = 0.01f + 0.001f * float(b % 97);
  }
  Replicated weights(one);
  static const float nf4[16] = {-1.0f, -0.6961928f, -0.52507305f,
                                -0.3949175f, -0.28444138f, -0.18477343f,
                                -0.091050036f, 0.0f, 0.0795803f, 0.1609302f,
                                0.2461123f, 0.33791524f, 0.44070983f,
                                0.562617f, 0.72295684f, 1.0f};
  std::vector<float> codebook(nf4, nf4 + 16), code8(256), nested(nestedCount);
  for (int i = 0; i < 256; ++i)
    code8[i] = (i - 127.5f) / 128.0f;
  for (float &v : nested)
    v = 0.02f;
  std::vector<float> x(M * K, 0.5f), out(M * N);
  auto dOut = desc2(out.data(), M, N);
  auto dX = desc2(x.data(), M, K);
  auto dCodebook = desc1(codebook.data(), 16);
  auto dCode8 = desc1(code8.data(), 256);
  auto dNested = desc1(nested.data(), nestedCount);
  Immutable fixedCode8(code8.data(), 256 * 4);
  Immutable fixedNested(nested.data(), nestedCount * 4);
  auto call = [&] {
    uint8_t *w = weights.take();
    auto dPacked = desc1(w, int64_t(packedBytes));
    auto dAbs = desc1(w + packedBytes, nblocks);
    if (dq)
      _mlir_ciface_bnbrt_uk_linear_4bit_dq(&dOut, &dX, &dPacked, &dAbs,
                                           &dNested, &dCode8, &dCodebook, bs,
                                           256, 0.01f, compute);
    else
      _mlir_ciface_bnbrt_uk_linear_4bit(&dOut, &dX, &dPacked, &dAbs,
                                        &dCodebook, bs, compute);
  };
  // Once per copy untimed at batch 1: a weight's repacked copy is made at
  // its first batch-1 call (a model's first decode step), not in every one.
  for (size_t c = 0; M == 1 && c < weights.copies; ++c)
    call();
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(out.data());
  }
  if (const char *e = bnbrt_last_error())
    state.SkipWithError(e);
  setCounters(state, double(packedBytes + absBytes + nestedCount * 4), M, N,
              K);
}

void BM_Nf4(benchmark::State &state) { runNf4(state, BNBRT_UK_BF16); }

/// bitsandbytes' default compute dtype (float32): no bf16 rounding of x.
void BM_Nf4F32(benchmark::State &state) { runNf4(state, BNBRT_UK_F32); }

void BM_Int8(benchmark::State &state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  Replicated weights(randomBytes(size_t(N * K), 2));
  std::vector<uint8_t> a = randomBytes(size_t(M * K), 3);
  std::vector<int32_t> out(M * N);
  auto dOut = desc2(out.data(), M, N);
  auto dA = desc2(a.data(), M, K);
  for (auto _ : state) {
    auto dB = desc2(weights.take(), N, K);
    _mlir_ciface_bnbrt_uk_int8_matmul(&dOut, &dA, &dB);
    benchmark::DoNotOptimize(out.data());
  }
  if (const char *e = bnbrt_last_error())
    state.SkipWithError(e);
  setCounters(state, double(N * K), M, N, K);
}

/// A float-weight matmul with 16-bit weights made finite by `finite` (applied
/// to the high byte of each weight) through `kernel`.
template <typename Fixup, typename Kernel>
void runMatmul16(benchmark::State &state, uint32_t seed, Fixup finite,
                 Kernel kernel) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  std::vector<uint8_t> one = randomBytes(size_t(N * K) * 2, seed);
  for (size_t i = 1; i < one.size(); i += 2)
    one[i] = finite(one[i]);
  Replicated weights(one);
  std::vector<float> x(M * K, 0.25f), out(M * N);
  auto dOut = desc2(out.data(), M, N);
  auto dX = desc2(x.data(), M, K);
  for (auto _ : state) {
    auto dW = desc2(weights.take(), N, K);
    kernel(&dOut, &dX, &dW, 1);
    benchmark::DoNotOptimize(out.data());
  }
  if (const char *e = bnbrt_last_error())
    state.SkipWithError(e);
  setCounters(state, double(N * K) * 2, M, N, K);
}

void BM_Bf16(benchmark::State &state) {
  // Finite normal bf16 values: exponent 0x78-0x7f (|w| in [2^-7, 2)).
  runMatmul16(
      state, 5,
      [](uint8_t hi) {
        return static_cast<uint8_t>((hi & 0x80) | 0x3c | (hi & 3));
      },
      _mlir_ciface_bnbrt_uk_matmul_bf16);
}

void BM_F16(benchmark::State &state) {
  // Keep the halves finite: clear the top exponent bit.
  runMatmul16(
      state, 4, [](uint8_t hi) { return static_cast<uint8_t>(hi & 0xbf); },
      _mlir_ciface_bnbrt_uk_matmul_f16);
}

void gemvShapes(benchmark::internal::Benchmark *b, bool withDq) {
  for (int dq : withDq ? std::vector<int>{0, 1} : std::vector<int>{0}) {
    for (auto nk : {std::pair<int64_t, int64_t>{4096, 4096},
                    {11008, 4096},
                    {4096, 11008}})
      b->Args(withDq ? std::vector<int64_t>{1, nk.first, nk.second, dq}
                     : std::vector<int64_t>{1, nk.first, nk.second});
    // 4 and 8: where the GEMM starts to beat a GEMV over several rows;
    // 16: generation's default prefill chunk, also on the down projection
    // (K = 11008).
    for (int64_t m : {4, 8, 16, 128, 512})
      b->Args(withDq ? std::vector<int64_t>{m, 11008, 4096, dq}
                     : std::vector<int64_t>{m, 11008, 4096});
    b->Args(withDq ? std::vector<int64_t>{16, 4096, 11008, dq}
                   : std::vector<int64_t>{16, 4096, 11008});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

} // namespace

BENCHMARK(BM_Copy)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Nf4)
    ->ArgNames({"M", "N", "K", "dq"})
    ->Apply([](benchmark::internal::Benchmark *b) { gemvShapes(b, true); });
BENCHMARK(BM_Nf4F32)
    ->ArgNames({"M", "N", "K", "dq"})
    ->Apply([](benchmark::internal::Benchmark *b) { gemvShapes(b, true); });
BENCHMARK(BM_Int8)
    ->ArgNames({"M", "N", "K"})
    ->Apply([](benchmark::internal::Benchmark *b) { gemvShapes(b, false); });
BENCHMARK(BM_Bf16)
    ->ArgNames({"M", "N", "K"})
    ->Apply([](benchmark::internal::Benchmark *b) { gemvShapes(b, false); });
BENCHMARK(BM_F16)
    ->ArgNames({"M", "N", "K"})
    ->Apply([](benchmark::internal::Benchmark *b) { gemvShapes(b, false); });

BENCHMARK_MAIN();
