//===- GpuBench.cpp - GPU benchmark of bnb's generated kernels ------------===//
//
// Measures, on one GPU and in one run:
// * the device-to-device copy bandwidth (read + write bytes per second);
// * the 4-bit GEMV at batch 1 (NF4, with and without double quantization)
//   at 4096x4096, 11008x4096 and 4096x11008: bytes moved per second and the
//   ratio to the copy bandwidth;
// * LLM.int8() at 2048 tokens, 4096x4096, with outliers in 0.1% of the
//   columns (the whole layer and its int8 GEMM alone) against an f16 GEMM of
//   cuBLAS (dlopen-ed) of the same shape.
//
// The kernels are the ones bnb-lower-to-nvvm generates: kernels.mlir is
// compiled at build time into the linked object (entry points
// _mlir_ciface_*) and into the embedded PTX. Each layer first runs through
// its compiled entry point (with kernel timing on, which records the names
// of the kernels it launches); the benchmark then launches those kernels
// itself with the same arguments and grids, checks that the output is
// identical, and times back-to-back launches with CUDA events. A queue of
// large copies keeps the GPU busy while the launches are enqueued, so launch
// latency is not measured, and the weights rotate over copies totalling
// 256 MiB, so that they come from DRAM rather than from the L2 cache.
//
// Usage: bnb-gpu-bench [--iters=N] [--json=FILE]
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/Float16.h"
#include "bnb_runtime.h"
#include "bnb_runtime_abi.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

extern "C" const unsigned char bnb_bench_kernels_ptx[];
extern "C" const unsigned long bnb_bench_kernels_ptx_size;

namespace cl = llvm::cl;

static cl::opt<int> iterations("iters", cl::init(200),
                               cl::desc("Launches timed per GEMV measurement "
                                        "(a tenth of it for the large ones)"));
static cl::opt<std::string>
    jsonPath("json", cl::desc("Also write the figures to this JSON file"),
             cl::value_desc("file"));

namespace {

//===----------------------------------------------------------------------===//
// Memref descriptors and the compiled entry points
//===----------------------------------------------------------------------===//

template <int Rank> struct MemRef {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};

template <int Rank>
MemRef<Rank> memref(void *ptr, const int64_t (&sizes)[Rank]) {
  MemRef<Rank> m{ptr, ptr, 0, {}, {}};
  int64_t stride = 1;
  for (int i = Rank - 1; i >= 0; --i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = stride;
    stride *= sizes[i];
  }
  return m;
}

using M1 = MemRef<1>;
using M2 = MemRef<2>;

} // namespace

extern "C" {
#define GEMV(N, K)                                                             \
  void _mlir_ciface_gemv_nf4_##N##x##K(M2 *x, M2 *w, M1 *absmax, M2 *out);     \
  void _mlir_ciface_gemv_nf4dq_##N##x##K(M2 *x, M2 *w, M1 *absmax, M1 *nested, \
                                         M2 *out);
GEMV(4096, 4096)
GEMV(11008, 4096)
GEMV(4096, 11008)
#undef GEMV
void _mlir_ciface_int8_2048x4096x4096(M2 *x, M2 *w, M1 *scb, M2 *out);
}

namespace {

[[noreturn]] void fail(const std::string &msg) {
  std::fprintf(stderr, "bnb-gpu-bench: error: %s\n", msg.c_str());
  std::exit(1);
}

void checkRuntime(const char *what) {
  if (const char *err = bnbrt_last_error())
    fail(std::string(what) + ": " + err);
}

//===----------------------------------------------------------------------===//
// Driver calls the runtime does not make (timed events: the runtime's have
// timing disabled; kernel attributes), and cuBLAS
//===----------------------------------------------------------------------===//

struct DriverCalls {
  using Create = int (*)(void **, unsigned);
  using Record = int (*)(void *, void *);
  using Sync = int (*)(void *);
  using Elapsed = int (*)(float *, void *, void *);
  Create create = nullptr;
  Record record = nullptr;
  Sync sync = nullptr;
  Elapsed elapsed = nullptr;
  /// cuFuncGetAttribute, for a kernel's block size.
  int (*funcAttribute)(int *, int, void *) = nullptr;

  bool load() {
    // The driver the runtime uses ($BNB_CUDA_DRIVER, as in docs/runtime.md).
    const char *driver = std::getenv("BNB_CUDA_DRIVER");
    void *lib = dlopen(driver && *driver ? driver : "libcuda.so.1",
                       RTLD_NOW | RTLD_GLOBAL);
    if (!lib)
      return false;
    create = reinterpret_cast<Create>(dlsym(lib, "cuEventCreate"));
    record = reinterpret_cast<Record>(dlsym(lib, "cuEventRecord"));
    sync = reinterpret_cast<Sync>(dlsym(lib, "cuEventSynchronize"));
    elapsed = reinterpret_cast<Elapsed>(dlsym(lib, "cuEventElapsedTime_v2"));
    if (!elapsed)
      elapsed = reinterpret_cast<Elapsed>(dlsym(lib, "cuEventElapsedTime"));
    funcAttribute = reinterpret_cast<decltype(funcAttribute)>(
        dlsym(lib, "cuFuncGetAttribute"));
    return create && record && sync && elapsed && funcAttribute;
  }
};

DriverCalls driver;

struct Cublas {
  void *handle = nullptr;
  int (*gemmEx)(void *, int, int, int, int, int, const void *, const void *,
                int, int, const void *, int, int, const void *, void *, int,
                int, int, int) = nullptr;
  int (*setStream)(void *, void *) = nullptr;
  std::string library;

  /// Loads cuBLAS from $BNB_CUBLAS or the usual names.
  bool load() {
    std::vector<std::string> names;
    if (const char *env = std::getenv("BNB_CUBLAS"))
      names.push_back(env);
    for (const char *n : {"libcublas.so", "libcublas.so.13", "libcublas.so.12",
                          "libcublas.so.11"})
      names.push_back(n);
    for (const std::string &name : names) {
      void *lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib)
        continue;
      auto create =
          reinterpret_cast<int (*)(void **)>(dlsym(lib, "cublasCreate_v2"));
      gemmEx = reinterpret_cast<decltype(gemmEx)>(dlsym(lib, "cublasGemmEx"));
      setStream = reinterpret_cast<decltype(setStream)>(
          dlsym(lib, "cublasSetStream_v2"));
      if (create && gemmEx && setStream && create(&handle) == 0) {
        library = name;
        return true;
      }
    }
    return false;
  }
};

//===----------------------------------------------------------------------===//
// Host data
//===----------------------------------------------------------------------===//

uint16_t toHalf(float f) { return ::bnb::floatToHalf(f); }

std::mt19937 rng(20240607);

std::vector<uint8_t> randomBytes(size_t n) {
  std::vector<uint8_t> v(n);
  std::uniform_int_distribution<int> d(0, 255);
  for (uint8_t &b : v)
    b = static_cast<uint8_t>(d(rng));
  return v;
}

std::vector<float> randomFloats(size_t n, float lo, float hi) {
  std::vector<float> v(n);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float &f : v)
    f = d(rng);
  return v;
}

std::vector<uint16_t> randomHalves(size_t n) {
  std::vector<uint16_t> v(n);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (uint16_t &h : v)
    h = toHalf(d(rng));
  return v;
}

/// A device buffer holding `bytes` of host data.
template <typename T> void *upload(const std::vector<T> &host, int category) {
  size_t bytes = host.size() * sizeof(T);
  void *p = bnbrt_alloc(bytes, category);
  if (!p || bnbrt_memcpy_h2d(p, host.data(), bytes) != 0)
    checkRuntime("upload");
  return p;
}

std::vector<uint8_t> download(void *p, size_t bytes) {
  std::vector<uint8_t> host(bytes);
  if (bnbrt_memcpy_d2h(host.data(), p, bytes) != 0)
    checkRuntime("download");
  return host;
}

//===----------------------------------------------------------------------===//
// Kernel launches and timing
//===----------------------------------------------------------------------===//

/// A kernel argument list in the ABI of the generated kernels: a 1-D memref
/// is (allocated, aligned, offset, size, stride).
struct Args {
  std::vector<int64_t> storage;
  std::vector<size_t> offsets;
  std::vector<void *> pointers;

  Args() { storage.reserve(64); }
  void word(int64_t v) {
    offsets.push_back(storage.size());
    storage.push_back(v);
  }
  Args &buffer(void *p, int64_t size) {
    word(reinterpret_cast<int64_t>(p));
    word(reinterpret_cast<int64_t>(p));
    word(0);
    word(size);
    word(1);
    return *this;
  }
  Args &index(int64_t v) {
    word(v);
    return *this;
  }
  Args &f32(float v) {
    int64_t bits = 0;
    std::memcpy(&bits, &v, 4);
    word(bits);
    return *this;
  }
  void **params() {
    pointers.clear();
    for (size_t o : offsets)
      pointers.push_back(&storage[o]);
    return pointers.data();
  }
};

struct Kernel {
  void *function = nullptr;
  std::string name;
  /// Threads per block: the kernel's own `.maxntid`, which the compiler
  /// sets to the block size it generated the kernel for.
  int64_t threads = 0;
};

void *kernelModule = nullptr;
void *stream = nullptr;

Kernel kernel(const std::string &name) {
  Kernel k{mgpuModuleGetFunction(kernelModule, name.c_str()), name};
  if (!k.function)
    fail("no kernel '" + name + "' in the compiled module");
  int threads = 0;
  constexpr int kMaxThreadsPerBlock = 0; // CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK
  if (driver.funcAttribute(&threads, kMaxThreadsPerBlock, k.function) != 0 ||
      threads <= 0)
    fail("cannot read the block size of kernel '" + name + "'");
  k.threads = threads;
  return k;
}

void launch(const Kernel &k, int64_t gx, int64_t gy, int64_t block,
            Args &args) {
  mgpuLaunchKernel(k.function, gx, gy, 1, block, 1, 1, 0, stream,
                   args.params(), nullptr, args.offsets.size());
}

/// Names of the kernels `run` launches, recorded by the runtime's timer.
std::vector<std::string> launchedKernels(const std::function<void()> &run) {
  bnbrt_reset_kernel_stats();
  bnbrt_set_profiling(1);
  run();
  bnbrt_synchronize();
  bnbrt_set_profiling(0);
  checkRuntime("running a compiled entry point");
  std::vector<std::string> names;
  for (size_t i = 0, e = bnbrt_kernel_stats_count(); i < e; ++i) {
    bnbrt_kernel_stats s;
    if (bnbrt_get_kernel_stats(i, &s) == 0)
      names.push_back(s.name);
  }
  bnbrt_reset_kernel_stats();
  return names;
}

void expectKernels(const std::vector<std::string> &launched,
                   const std::vector<std::string> &expected,
                   const std::string &layer) {
  for (const std::string &name : expected)
    if (std::find(launched.begin(), launched.end(), name) == launched.end())
      fail(layer + ": the compiled entry point does not launch '" + name +
           "'; the benchmark is out of date with the compiler");
}

void *busyFrom = nullptr, *busyTo = nullptr;
constexpr size_t kBusyBytes = size_t(256) << 20;

/// Milliseconds per call of `enqueue` over `iters` back-to-back calls.
double timeBackToBack(int iters, const std::function<void(int)> &enqueue) {
  void *start = nullptr, *stop = nullptr;
  if (driver.create(&start, 0) || driver.create(&stop, 0))
    fail("cuEventCreate failed");
  for (int i = 0; i < 8; ++i) // keeps the GPU busy while we enqueue
    mgpuMemcpy(busyTo, busyFrom, kBusyBytes, stream);
  driver.record(start, stream);
  for (int i = 0; i < iters; ++i)
    enqueue(i);
  driver.record(stop, stream);
  driver.sync(stop);
  checkRuntime("timed launches");
  float ms = 0;
  driver.elapsed(&ms, start, stop);
  return ms / iters;
}

//===----------------------------------------------------------------------===//
// Benchmarks
//===----------------------------------------------------------------------===//

struct Row {
  std::string layer, kernel;
  double us = 0, gbps = 0, ratio = 0, tops = 0;
};
std::vector<Row> rows;
double copyGBps = 0;

void benchCopy(int iters) {
  double ms = timeBackToBack(std::max(4, iters / 10), [&](int) {
    mgpuMemcpy(busyTo, busyFrom, kBusyBytes, stream);
  });
  copyGBps = 2.0 * kBusyBytes / (ms * 1e-3) / 1e9;
  std::printf("device-to-device copy: %.1f GB/s (read + write bytes)\n",
              copyGBps);
}

void benchGemv(int64_t n, int64_t k, bool nested, int iters) {
  const int64_t numel = n * k, nbytes = numel / 2, nblocks = numel / 64,
                nestedCount = (nblocks + 255) / 256;
  std::string layer = std::string("gemv nf4") + (nested ? "+dq " : " ") +
                      std::to_string(n) + "x" + std::to_string(k);
  std::string kernelName = "bnb_gemv4_mma_nf4_f16_f16_n" + std::to_string(n) +
                           "_k" + std::to_string(k) + "_b64" +
                           (nested ? "_dq" : "") + "_t1";
  const float offset = 0.03125f;
  size_t setBytes = nbytes + (nested ? nblocks + 4 * nestedCount : 4 * nblocks);
  int copies = static_cast<int>((kBusyBytes + setBytes - 1) / setBytes);
  struct Set {
    void *w, *absmax, *nestedAbsmax;
  };
  std::vector<Set> sets;
  for (int c = 0; c < copies; ++c) {
    Set s{};
    s.w = upload(randomBytes(nbytes), BNBRT_CATEGORY_WEIGHTS);
    if (nested) {
      s.absmax = upload(randomBytes(nblocks), BNBRT_CATEGORY_WEIGHTS);
      s.nestedAbsmax = upload(randomFloats(nestedCount, 0.01f, 0.02f),
                              BNBRT_CATEGORY_WEIGHTS);
    } else {
      s.absmax =
          upload(randomFloats(nblocks, 0.01f, 0.05f), BNBRT_CATEGORY_WEIGHTS);
    }
    sets.push_back(s);
  }
  void *x = upload(randomHalves(k), BNBRT_CATEGORY_ACTIVATIONS);
  void *ref = bnbrt_alloc(n * 2, BNBRT_CATEGORY_ACTIVATIONS);
  void *out = bnbrt_alloc(n * 2, BNBRT_CATEGORY_ACTIVATIONS);
  // Same starting bytes: reused device blocks hold stale data, and the
  // stand-in driver of the tests runs no kernel.
  bnbrt_memset(ref, 0, n * 2);
  bnbrt_memset(out, 0, n * 2);

  // The compiled entry point, and the kernel it launches.
  M2 mx = memref<2>(x, {1, k}), mw = memref<2>(sets[0].w, {nbytes, 1}),
     mo = memref<2>(ref, {1, n});
  M1 ma = memref<1>(sets[0].absmax, {nblocks}),
     mn = memref<1>(sets[0].nestedAbsmax, {nestedCount});
  auto entry = [&] {
#define CALL(N, K)                                                             \
  if (n == N && k == K) {                                                      \
    if (nested)                                                                \
      _mlir_ciface_gemv_nf4dq_##N##x##K(&mx, &mw, &ma, &mn, &mo);              \
    else                                                                       \
      _mlir_ciface_gemv_nf4_##N##x##K(&mx, &mw, &ma, &mo);                     \
  }
    CALL(4096, 4096) CALL(11008, 4096) CALL(4096, 11008)
#undef CALL
  };
  expectKernels(launchedKernels(entry), {kernelName}, layer);

  Kernel kern = kernel(kernelName);
  auto argsFor = [&](const Set &s, void *dst) {
    Args a;
    a.buffer(x, k).buffer(s.w, nbytes).buffer(s.absmax, nblocks);
    if (nested)
      a.buffer(s.nestedAbsmax, nestedCount).f32(offset);
    a.buffer(dst, n).index(1);
    return a;
  };
  std::vector<Args> args;
  for (const Set &s : sets)
    args.push_back(argsFor(s, out));
  launch(kern, (n + 15) / 16, 1, kern.threads, args[0]);
  mgpuStreamSynchronize(stream);
  checkRuntime(layer.c_str());
  if (download(ref, n * 2) != download(out, n * 2))
    fail(layer + ": the direct launch differs from the compiled entry point");

  double ms = timeBackToBack(iters, [&](int i) {
    launch(kern, (n + 15) / 16, 1, kern.threads, args[i % copies]);
  });
  double bytes = double(setBytes) + 2.0 * k + 2.0 * n;
  Row r{layer, kernelName, ms * 1e3, bytes / (ms * 1e-3) / 1e9, 0, 0};
  r.ratio = r.gbps / copyGBps;
  rows.push_back(r);
  std::printf("%-24s %9.2f us %9.1f GB/s %6.1f%% of copy   %s\n",
              layer.c_str(), r.us, r.gbps, 100 * r.ratio, kernelName.c_str());

  for (const Set &s : sets) {
    bnbrt_free(s.w);
    bnbrt_free(s.absmax);
    bnbrt_free(s.nestedAbsmax);
  }
  bnbrt_free(x);
  bnbrt_free(ref);
  bnbrt_free(out);
}

void benchInt8(int iters, Cublas *cublas) {
  const int64_t m = 2048, n = 4096, k = 4096;
  const float threshold = 6.0f;
  std::string layer = "LLM.int8() 2048x4096x4096";
  std::vector<uint16_t> xh = randomHalves(m * k);
  // Outliers in 0.1% of the columns (4 of 4096).
  for (int64_t c = 512; c < k; c += 1024)
    for (int64_t r = 0; r < m; ++r)
      xh[r * k + c] = toHalf((r % 2 ? -1.0f : 1.0f) * 8.0f);
  std::vector<uint8_t> cb = randomBytes(n * k);
  for (uint8_t &b : cb)
    if (b == 0x80)
      b = 0x81; // int8 weights are in [-127, 127]
  void *x = upload(xh, BNBRT_CATEGORY_ACTIVATIONS);
  void *w = upload(cb, BNBRT_CATEGORY_WEIGHTS);
  void *scb = upload(randomFloats(n, 0.5f, 2.0f), BNBRT_CATEGORY_WEIGHTS);
  void *ref = bnbrt_alloc(m * n * 2, BNBRT_CATEGORY_ACTIVATIONS);
  void *out = bnbrt_alloc(m * n * 2, BNBRT_CATEGORY_ACTIVATIONS);
  // Same starting bytes, as in benchGemv.
  bnbrt_memset(ref, 0, m * n * 2);
  bnbrt_memset(out, 0, m * n * 2);

  const std::string zero = "bnb_zero_fill_i32",
                    quant = "bnb_rowquant_f16_outliers",
                    compact = "bnb_compact_columns_32",
                    gemm = "bnb_int8_gemm_128x128_w2x4_dequant_f16_outliers";
  M2 mx = memref<2>(x, {m, k}), mw = memref<2>(w, {n, k}),
     mo = memref<2>(ref, {m, n});
  M1 ms = memref<1>(scb, {n});
  expectKernels(launchedKernels([&] {
                  _mlir_ciface_int8_2048x4096x4096(&mx, &mw, &ms, &mo);
                }),
                {zero, quant, compact, gemm}, layer);

  // The same four launches.
  const int64_t words = (k + 31) / 32;
  void *ca = bnbrt_alloc(m * k, BNBRT_CATEGORY_WORKSPACE);
  void *sca = bnbrt_alloc(m * 4, BNBRT_CATEGORY_WORKSPACE);
  void *flags = bnbrt_alloc(words * 4, BNBRT_CATEGORY_WORKSPACE);
  void *list = bnbrt_alloc(k * 4, BNBRT_CATEGORY_WORKSPACE);
  void *count = bnbrt_alloc(4, BNBRT_CATEGORY_WORKSPACE);
  Kernel kz = kernel(zero), kq = kernel(quant), kc = kernel(compact),
         kg = kernel(gemm);
  Args az, aq, ac, ag;
  az.buffer(flags, words).index(words);
  aq.buffer(x, m * k).buffer(ca, m * k).buffer(sca, m).buffer(flags, words)
      .f32(threshold).index(m).index(k);
  ac.buffer(flags, words).buffer(list, k).buffer(count, 1).index(k);
  ag.buffer(ca, m * k).buffer(w, n * k).buffer(out, m * n).index(m).index(n)
      .index(k).buffer(sca, m).buffer(scb, n).buffer(x, m * k)
      .buffer(list, k).buffer(count, 1);
  auto layerLaunches = [&] {
    launch(kz, (words + 255) / 256, 1, 256, az);
    launch(kq, m, 1, 256, aq);
    launch(kc, 1, 1, 1024, ac);
    launch(kg, n / 128, m / 128, 256, ag);
  };
  layerLaunches();
  mgpuStreamSynchronize(stream);
  checkRuntime(layer.c_str());
  if (download(ref, m * n * 2) != download(out, m * n * 2))
    fail(layer + ": the direct launches differ from the compiled entry point");

  const double flop = 2.0 * m * n * k;
  int reps = std::max(5, iters / 10);
  double layerMs = timeBackToBack(reps, [&](int) { layerLaunches(); });
  double gemmMs = timeBackToBack(
      reps, [&](int) { launch(kg, n / 128, m / 128, 256, ag); });
  rows.push_back({layer, "4 kernels", layerMs * 1e3, 0, 0,
                  flop / (layerMs * 1e-3) / 1e12});
  rows.push_back({"int8 GEMM + epilogue", gemm, gemmMs * 1e3, 0, 0,
                  flop / (gemmMs * 1e-3) / 1e12});
  std::printf("%-24s %9.2f us %9.1f TOPS (whole layer: quantize, compact, "
              "GEMM)\n",
              layer.c_str(), layerMs * 1e3, rows[rows.size() - 2].tops);
  std::printf("%-24s %9.2f us %9.1f TOPS   %s\n", "  int8 GEMM + epilogue",
              gemmMs * 1e3, rows.back().tops, gemm.c_str());

  if (cublas) {
    // y = x * W^T in f16 with f32 accumulation, as torch's F.linear.
    void *wh = upload(randomHalves(n * k), BNBRT_CATEGORY_WEIGHTS);
    void *y = bnbrt_alloc(m * n * 2, BNBRT_CATEGORY_ACTIVATIONS);
    cublas->setStream(cublas->handle, stream);
    float one = 1.0f, zeroF = 0.0f;
    const int kF16 = 2, kCompute32F = 68, kOpT = 1, kOpN = 0, kDefault = -1;
    auto gemmF16 = [&] {
      return cublas->gemmEx(cublas->handle, kOpT, kOpN, n, m, k, &one, wh,
                            kF16, k, x, kF16, k, &zeroF, y, kF16, n,
                            kCompute32F, kDefault);
    };
    if (int status = gemmF16())
      fail("cublasGemmEx failed with status " + std::to_string(status));
    double cublasMs = timeBackToBack(reps, [&](int) { gemmF16(); });
    double tops = flop / (cublasMs * 1e-3) / 1e12;
    rows.push_back({"cuBLAS f16 GEMM", cublas->library, cublasMs * 1e3, 0, 0,
                    tops});
    std::printf("%-24s %9.2f us %9.1f TFLOPS (%s)\n", "cuBLAS f16 GEMM",
                cublasMs * 1e3, tops, cublas->library.c_str());
    std::printf("LLM.int8() layer / cuBLAS f16: %.2fx the speed\n",
                cublasMs / layerMs);
    bnbrt_free(wh);
    bnbrt_free(y);
  } else {
    std::printf("cuBLAS not found (set BNB_CUBLAS to libcublas.so, or run "
                "bench/gpu/cublas_baseline.py)\n");
  }
  for (void *p : {x, w, scb, ref, out, ca, sca, flags, list, count})
    bnbrt_free(p);
}

void writeJson(llvm::StringRef path) {
  llvm::json::Array results;
  for (const Row &r : rows)
    results.push_back(llvm::json::Object{{"layer", r.layer},
                                         {"kernel", r.kernel},
                                         {"us", r.us},
                                         {"gbps", r.gbps},
                                         {"copy_ratio", r.ratio},
                                         {"tops", r.tops}});
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    fail("cannot write '" + path.str() + "': " + ec.message());
  os << llvm::formatv("{0:2}",
                      llvm::json::Value(llvm::json::Object{
                          {"copy_gbps", copyGBps},
                          {"results", std::move(results)}}))
     << "\n";
}

} // namespace

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv,
                              "bnb-gpu-bench: the GPU benchmark of bnb's "
                              "generated kernels\n");
  int iters = iterations;
  if (iters < 1)
    fail("--iters must be positive");
  char why[512];
  if (!bnbrt_cuda_available(why, sizeof why)) {
    std::fprintf(stderr, "bnb-gpu-bench: no CUDA GPU to measure: %s\n", why);
    return 2;
  }
  // The linked object loaded its kernels at startup; an error there (e.g. a
  // device too old for " BNB_GPU_BENCH_CHIP ") shows now.
  checkRuntime("loading the compiled kernels");
  bnbrt_device_info info;
  if (bnbrt_get_device_info(&info) != 0)
    checkRuntime("device info");
  std::printf("device: %s (sm_%d%d, %d SMs), kernels compiled for %s\n",
              info.name, info.sm_major, info.sm_minor,
              info.multiprocessor_count, BNB_GPU_BENCH_CHIP);
  if (!driver.load())
    fail("cannot resolve the CUDA event and kernel-attribute functions of "
         "libcuda.so.1");

  kernelModule = mgpuModuleLoadJIT(
      const_cast<unsigned char *>(bnb_bench_kernels_ptx), 3);
  stream = mgpuStreamCreate();
  busyFrom = bnbrt_alloc(kBusyBytes, BNBRT_CATEGORY_WORKSPACE);
  busyTo = bnbrt_alloc(kBusyBytes, BNBRT_CATEGORY_WORKSPACE);
  checkRuntime("setup");

  benchCopy(iters);
  for (bool nested : {false, true})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{4096, 4096},
                        {11008, 4096},
                        {4096, 11008}})
      benchGemv(n, k, nested, iters);
  Cublas cublas;
  benchInt8(iters, cublas.load() ? &cublas : nullptr);

  if (!jsonPath.empty())
    writeJson(jsonPath);
  bnbrt_free(busyFrom);
  bnbrt_free(busyTo);
  mgpuStreamDestroy(stream);
  mgpuModuleUnload(kernelModule);
  checkRuntime("teardown");
  return 0;
}
