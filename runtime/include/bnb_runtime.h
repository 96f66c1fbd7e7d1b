/*===- bnb_runtime.h - bnb runtime C API ---------------------------*- C -*-===*
 *
 * The C API of libbnb_runtime for bnb-run, the Python frontend and tests:
 * CUDA availability and device information, memory accounting by category,
 * explicit device memory transfers, the sticky first-error state, per-kernel
 * timings and the leak report.
 *
 * The library loads the CUDA driver (libcuda.so.1) with dlopen at first use,
 * so it builds, links and loads on machines without a GPU or driver; every
 * failure is reported through bnbrt_last_error(), never by aborting.
 *
 *===----------------------------------------------------------------------===*/

#ifndef BNB_RUNTIME_H
#define BNB_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(BNBRT_BUILDING_LIBRARY)
#define BNBRT_API __attribute__((visibility("default")))
#else
#define BNBRT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Version of this C API and of the ABI compiled models link against. It
/// grows whenever a function is added or a signature changes.
#define BNBRT_ABI_VERSION 3

/// Returns BNBRT_ABI_VERSION of the loaded library, so a host tool can check
/// that it runs against the library it was built for.
BNBRT_API int bnbrt_abi_version(void);

/// Returns the project version string, e.g. "0.1.0".
BNBRT_API const char *bnbrt_version(void);

/*===----------------------------------------------------------------------===*
 * Errors
 *===----------------------------------------------------------------------===*/

/// Returns the first error recorded since the last bnbrt_clear_error(), or
/// NULL when there is none. The message names the failing driver call and the
/// CUDA error, e.g. "cuMemAlloc_v2(1073741824 bytes) failed:
/// CUDA_ERROR_OUT_OF_MEMORY (out of memory)". While an error is recorded the
/// mgpu* entry points compiled code calls are safe no-ops (allocations return
/// NULL, launches and copies do nothing) except frees and destroys, which
/// still release what they are given. The pointer stays valid until the next
/// bnbrt_clear_error() or bnbrt_reset().
BNBRT_API const char *bnbrt_last_error(void);

/// Forgets the recorded error so that work resumes.
BNBRT_API void bnbrt_clear_error(void);

/*===----------------------------------------------------------------------===*
 * Device
 *===----------------------------------------------------------------------===*/

/// Probes the CUDA driver and the selected device without recording a sticky
/// error. Returns 1 when CUDA is usable; otherwise returns 0 and, when `err` is
/// not NULL, writes the reason (e.g. "no CUDA driver: libcuda.so.1 could not
/// be loaded (...)") into `err`, truncated to `err_size` bytes.
BNBRT_API int bnbrt_cuda_available(char *err, size_t err_size);

/// Selects the device ordinal used by subsequent work (like
/// mgpuSetDefaultDevice). Compiled GPU modules load their kernels when the
/// model library is loaded, so select the device before dlopen-ing it.
/// Returns 0, or -1 for a negative ordinal. An ordinal beyond the device count
/// is reported as an error at first use.
BNBRT_API int bnbrt_set_device(int ordinal);

/// Returns the selected device ordinal.
BNBRT_API int bnbrt_get_device(void);

/// Returns the number of CUDA devices, or -1 (with the error recorded) when
/// the driver cannot be used.
BNBRT_API int bnbrt_device_count(void);

/// Properties of the selected device.
typedef struct bnbrt_device_info {
  int ordinal;                 ///< device ordinal
  char name[256];              ///< e.g. "NVIDIA H100 80GB HBM3"
  int sm_major;                ///< compute capability major, e.g. 9
  int sm_minor;                ///< compute capability minor, e.g. 0
  int multiprocessor_count;    ///< number of SMs
  uint64_t total_memory_bytes; ///< device memory size
  uint64_t free_memory_bytes;  ///< free device memory now
  int driver_version;          ///< e.g. 13000 for CUDA 13.0
} bnbrt_device_info;

/// Fills `info` for the selected device. Returns 0, or -1 with the error
/// recorded.
BNBRT_API int bnbrt_get_device_info(bnbrt_device_info *info);

/*===----------------------------------------------------------------------===*
 * Memory accounting
 *===----------------------------------------------------------------------===*/

/// What an allocation holds.
typedef enum bnbrt_category {
  BNBRT_CATEGORY_WEIGHTS = 0,     ///< model parameters uploaded by the host
  BNBRT_CATEGORY_ACTIVATIONS = 1, ///< tensors made while running (default)
  BNBRT_CATEGORY_WORKSPACE = 2,   ///< scratch space kernels ask for
  BNBRT_CATEGORY_KV_CACHE = 3,    ///< attention key/value cache
  BNBRT_CATEGORY_CONSTANTS = 4    ///< a module's constant tables, resident
} bnbrt_category;

/// Number of categories.
#define BNBRT_NUM_CATEGORIES 5
/// Pseudo-category selecting the sum over all categories in queries.
#define BNBRT_CATEGORY_TOTAL (-1)

/// Where an allocation lives.
typedef enum bnbrt_pool {
  BNBRT_POOL_DEVICE = 0, ///< GPU memory (mgpuMemAlloc, bnbrt_alloc)
  BNBRT_POOL_HOST = 1    ///< CPU memory of compiled CPU code
} bnbrt_pool;

/// Returns "weights", "activations", "workspace", "kv-cache", "constants",
/// "total" for BNBRT_CATEGORY_TOTAL, or "invalid".
BNBRT_API const char *bnbrt_category_name(int category);

/// Sets the category that allocations without an explicit one (mgpuMemAlloc,
/// _mlir_memref_to_llvm_alloc) are charged to, process-wide. Returns the
/// previous category, or -1 (and changes nothing) for an invalid one.
BNBRT_API int bnbrt_set_category(int category);

/// Returns the current default category.
BNBRT_API int bnbrt_get_category(void);

/// Counters of one pool and category.
typedef struct bnbrt_memory_stats {
  uint64_t current_bytes;     ///< bytes live now
  uint64_t peak_bytes;        ///< most bytes live at once
  uint64_t current_blocks;    ///< allocations live now
  uint64_t total_allocations; ///< allocations ever made
  uint64_t total_frees;       ///< allocations ever released
} bnbrt_memory_stats;

/// Fills `stats` for `pool` and `category` (or BNBRT_CATEGORY_TOTAL, whose
/// peak is the peak of the sum, not the sum of the peaks). Returns 0, or -1
/// for an invalid pool or category.
BNBRT_API int bnbrt_get_memory_stats(int pool, int category,
                                     bnbrt_memory_stats *stats);

/// Returns the bytes live now in `pool` and `category`; 0 for invalid input.
BNBRT_API uint64_t bnbrt_memory_current(int pool, int category);

/// Returns the peak bytes of `pool` and `category`; 0 for invalid input.
BNBRT_API uint64_t bnbrt_memory_peak(int pool, int category);

/// Lowers every peak to the current value, e.g. between two runs.
BNBRT_API void bnbrt_reset_memory_peaks(void);

/// Returns the number of allocations live in both pools; 0 means nothing
/// leaked.
BNBRT_API uint64_t bnbrt_outstanding_allocations(void);

/// Writes the leak report (outstanding allocations grouped by pool and
/// category, with bytes and block counts) to `out`. Returns the number of
/// outstanding allocations.
BNBRT_API uint64_t bnbrt_leak_report(FILE *out);

/// Writes the leak report into `buf` (NUL-terminated, truncated to
/// `buf_size`). Returns the length of the full report, like snprintf.
BNBRT_API size_t bnbrt_leak_report_string(char *buf, size_t buf_size);

/// Enables (default) or disables the leak report printed to stderr at process
/// exit when allocations are outstanding. BNB_RT_NO_LEAK_REPORT=1 in the
/// environment also disables it.
BNBRT_API void bnbrt_set_leak_report_at_exit(int enabled);

/*===----------------------------------------------------------------------===*
 * Explicit device memory (bnb-run uploads weights and inputs with these)
 *===----------------------------------------------------------------------===*/

/// Allocates `bytes` of device memory charged to `category`. Returns NULL for
/// zero bytes, an invalid category, or a failure (error recorded).
BNBRT_API void *bnbrt_alloc(size_t bytes, int category);

/// Releases device memory from bnbrt_alloc or mgpuMemAlloc. NULL is ignored;
/// a pointer the runtime does not own is reported as an error.
BNBRT_API void bnbrt_free(void *device_ptr);

/// Copies host to device, synchronously. Returns 0, or -1 with the error
/// recorded (or when an error was already recorded).
BNBRT_API int bnbrt_memcpy_h2d(void *device_dst, const void *host_src,
                               size_t bytes);

/// Copies device to host, synchronously. Returns 0 or -1 like the above.
BNBRT_API int bnbrt_memcpy_d2h(void *host_dst, const void *device_src,
                               size_t bytes);

/// Copies device to device, synchronously. Returns 0 or -1.
BNBRT_API int bnbrt_memcpy_d2d(void *device_dst, const void *device_src,
                               size_t bytes);

/// Sets `bytes` bytes of device memory to `value`, synchronously. Returns 0
/// or -1.
BNBRT_API int bnbrt_memset(void *device_dst, int value, size_t bytes);

/// Waits for all work on the device. Returns 0, or -1 with the error recorded
/// (asynchronous kernel faults surface here).
BNBRT_API int bnbrt_synchronize(void);

/// Waits for the work on `stream` (NULL: the default stream). Returns 0 or -1.
BNBRT_API int bnbrt_stream_synchronize(void *stream);

/*===----------------------------------------------------------------------===*
 * The caching device allocator
 *
 * Freed device blocks are kept, by size bucket, and handed out again
 * without a driver call: at once to a request on the stream they were freed
 * on, to any other request once the host has synchronized that stream or
 * the device. Cached blocks are not live: the accounting above counts live
 * blocks only, and these functions report the cache. It is released by
 * bnbrt_reset, when a GPU module is unloaded, and before an allocation
 * that failed for lack of memory is retried. BNB_CUDA_CACHING=0 turns it
 * off.
 *===----------------------------------------------------------------------===*/

/// Turns the cache on or off (off also releases it); returns the previous
/// setting (1 or 0). bnbrt_reset restores the default.
BNBRT_API int bnbrt_set_device_caching(int enabled);

/// Returns 1 when freed device blocks are cached, else 0.
BNBRT_API int bnbrt_device_caching_enabled(void);

/// Bytes of device memory held by cached blocks (their bucket sizes).
BNBRT_API uint64_t bnbrt_device_cache_bytes(void);

/// Number of cached device blocks.
BNBRT_API uint64_t bnbrt_device_cache_blocks(void);

/// Frees every cached block through the driver; returns how many there were.
BNBRT_API uint64_t bnbrt_empty_device_cache(void);

/// Allocates accounted host memory in `category` with `alignment` (0: the
/// malloc default). Freed with bnbrt_host_free or _mlir_memref_to_llvm_free.
BNBRT_API void *bnbrt_host_alloc(size_t bytes, size_t alignment, int category);

/// Releases memory from bnbrt_host_alloc or the _mlir_memref_to_llvm_*
/// allocation functions. NULL is ignored.
BNBRT_API void bnbrt_host_free(void *ptr);

/*===----------------------------------------------------------------------===*
 * Kernel timings
 *===----------------------------------------------------------------------===*/

/// Enables or disables per-kernel timing. While enabled, each launch is
/// bracketed by two CUDA events on its stream and counted under the name the
/// compiled code looked the kernel up by (mgpuModuleGetFunction).
BNBRT_API void bnbrt_set_profiling(int enabled);

/// Returns 1 when profiling is enabled.
BNBRT_API int bnbrt_profiling_enabled(void);

/// Launch count and accumulated device time of one kernel.
typedef struct bnbrt_kernel_stats {
  const char *name; ///< kernel name; valid until bnbrt_reset()
  uint64_t launches;
  double total_ms;
} bnbrt_kernel_stats;

/// Waits for the timing events still in flight and returns the number of
/// kernels with statistics, in order of first launch.
BNBRT_API size_t bnbrt_kernel_stats_count(void);

/// Fills `stats` for kernel `index` (< bnbrt_kernel_stats_count()). Returns 0,
/// or -1 for a bad index.
BNBRT_API int bnbrt_get_kernel_stats(size_t index, bnbrt_kernel_stats *stats);

/// Forgets all kernel statistics.
BNBRT_API void bnbrt_reset_kernel_stats(void);

/// Writes a table of kernel statistics, slowest total first, to `out`.
/// Returns the number of kernels listed.
BNBRT_API size_t bnbrt_kernel_report(FILE *out);

/*===----------------------------------------------------------------------===*
 * Testing
 *===----------------------------------------------------------------------===*/

/// Returns the library to its initial state: frees the cached device blocks,
/// forgets the driver (the next use loads it again, honouring
/// bnbrt_set_driver_path / the driver table), the error, all accounting and
/// resident constants (without freeing them), kernel statistics and the
/// default device, category and caching setting. Meant for tests.
BNBRT_API void bnbrt_reset(void);

/// Sets the driver library dlopen loads (NULL: the default, which is
/// $BNB_CUDA_DRIVER or else "libcuda.so.1") and forgets the loaded driver.
BNBRT_API void bnbrt_set_driver_path(const char *path);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // BNB_RUNTIME_H
