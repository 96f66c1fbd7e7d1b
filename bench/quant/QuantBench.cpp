//===- QuantBench.cpp - weight quantization throughput --------------------===//
//
// NF4 with double quantization of fp16 weights (what bnb-quantize does for a
// QLoRA-style config), in GB/s of fp16 input, on 1 and 2 threads, and the
// element-by-element scalar path (quantize4bitScalar) as the baseline. Each
// optimized run reports `speedup_vs_scalar`: the scalar time per weight,
// measured once in the same process, over its own.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/Float16.h"

#include "llvm/Support/ThreadPool.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {

/// A random fp16 weight of `rows` x `cols` (normal, std 0.02), made once.
const std::vector<uint16_t> &weight(int64_t rows, int64_t cols) {
  static std::map<std::pair<int64_t, int64_t>, std::vector<uint16_t>> cache;
  std::vector<uint16_t> &w = cache[{rows, cols}];
  if (w.empty()) {
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    w.resize(static_cast<size_t>(rows * cols));
    for (uint16_t &h : w)
      h = floatToHalf(dist(rng));
  }
  return w;
}

struct Output {
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  NestedAbsmax nested;
};

void quantizeOnce(const std::vector<uint16_t> &w, Output &out, bool scalar,
                  llvm::ThreadPoolInterface *pool) {
  size_t n = w.size();
  out.packed.resize(packedSize(n));
  out.absmax.resize(numBlocks(n, 64));
  if (scalar)
    quantize4bitScalar(w.data(), DType::F16, n, QuantType::NF4, 64,
                       out.packed.data(), out.absmax.data());
  else
    quantize4bit(w.data(), DType::F16, n, QuantType::NF4, 64, out.packed.data(),
                 out.absmax.data(), pool);
  out.nested = doubleQuantize(out.absmax.data(), out.absmax.size(),
                              scalar ? nullptr : pool);
}

/// Seconds per scalar quantization of the weight (best of three).
double scalarSeconds(int64_t rows, int64_t cols) {
  static std::map<std::pair<int64_t, int64_t>, double> cache;
  auto it = cache.find({rows, cols});
  if (it != cache.end())
    return it->second;
  const std::vector<uint16_t> &w = weight(rows, cols);
  Output out;
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    quantizeOnce(w, out, /*scalar=*/true, nullptr);
    benchmark::DoNotOptimize(out.packed.data());
    best = std::min(best, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count());
  }
  return cache[{rows, cols}] = best;
}

/// Args: rows, cols, threads (0 = the scalar path).
void BM_NF4DoubleQuant(benchmark::State &state) {
  int64_t rows = state.range(0), cols = state.range(1);
  int64_t threads = state.range(2);
  const std::vector<uint16_t> &w = weight(rows, cols);
  bool scalar = threads == 0;
  double baseline = scalar ? 0.0 : scalarSeconds(rows, cols);
  std::unique_ptr<llvm::ThreadPoolInterface> pool;
  if (threads > 1)
    pool = std::make_unique<llvm::StdThreadPool>(
        llvm::hardware_concurrency(static_cast<unsigned>(threads)));
  Output out;
  quantizeOnce(w, out, scalar, pool.get()); // warm up the buffers
  double seconds = 0;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    quantizeOnce(w, out, scalar, pool.get());
    benchmark::DoNotOptimize(out.packed.data());
    benchmark::ClobberMemory();
    seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()) *
                          2);
  state.counters["threads"] = static_cast<double>(threads);
  if (!scalar)
    state.counters["speedup_vs_scalar"] =
        baseline / (seconds / static_cast<double>(state.iterations()));
}

void shapes(benchmark::internal::Benchmark *b) {
  for (auto [rows, cols] :
       {std::pair<int64_t, int64_t>{4096, 4096}, {11008, 4096}})
    for (int64_t threads : {0, 1, 2})
      b->Args({rows, cols, threads});
}

} // namespace

BENCHMARK(BM_NF4DoubleQuant)
    ->Apply(shapes)
    ->ArgNames({"rows", "cols", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(1.0);

BENCHMARK_MAIN();
