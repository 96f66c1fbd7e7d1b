/*===- bnb_runtime_abi.h - ABI of compiled models --------------------*- C -*-===*
 *
 * The functions compiled models call, with the exact C signatures of the
 * declarations MLIR 22 emits (verified with mlir-opt/mlir-translate 22.1.8):
 *
 *  - the mgpu* functions of `gpu-to-llvm` and of the gpu.binary embedding
 *    (the C ABI of upstream's libmlir_cuda_runtime, minus cuSPARSE);
 *  - the allocation functions of `finalize-memref-to-llvm` with
 *    use-generic-functions=true, and memrefCopy (what memref.copy of
 *    non-contiguous memrefs calls), so CPU models need no
 *    libmlir_c_runner_utils;
 *  - bnbrtMemAlloc / bnbrtHostAlloc, for compiled code that charges an
 *    allocation to an explicit category;
 *  - bnbrtResidentConstant / bnbrtReleaseResidentConstant, the device copies
 *    of a GPU module's constant globals (bnb-gpu-resident-constants).
 *
 * Integer widths follow the LLVM declarations: `index` is int64_t/intptr_t,
 * `i8` flags are uint8_t (never bool, whose ABI is i1).
 *
 *===----------------------------------------------------------------------===*/

#ifndef BNB_RUNTIME_ABI_H
#define BNB_RUNTIME_ABI_H

#include "bnb_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===*
 * GPU (declarations emitted by gpu-to-llvm and gpu.binary translation)
 *===----------------------------------------------------------------------===*/

/// `declare ptr @mgpuModuleLoad(ptr, i64)`: loads a cubin/fatbin image
/// (gpu.binary with format=bin/fatbin) of `size` bytes. Called from a global
/// constructor of the model library. Returns NULL on failure.
BNBRT_API void *mgpuModuleLoad(void *data, int64_t size);

/// `declare ptr @mgpuModuleLoadJIT(ptr, i32)`: JIT-compiles a NUL-terminated
/// PTX image (format=isa) with the given ptxas optimization level.
BNBRT_API void *mgpuModuleLoadJIT(void *data, int32_t opt_level);

/// `declare void @mgpuModuleUnload(ptr)`: unloads a module; NULL is ignored.
BNBRT_API void mgpuModuleUnload(void *module);

/// `declare ptr @mgpuModuleGetFunction(ptr, ptr)`: looks up kernel `name`
/// (cached; called before every launch). The name labels kernel timings.
BNBRT_API void *mgpuModuleGetFunction(void *module, const char *name);

/// `declare void @mgpuLaunchKernel(ptr, i64, i64, i64, i64, i64, i64, i32,
/// ptr, ptr, ptr, i64)`: launches `function` with grid and block sizes,
/// dynamic shared memory, stream, kernel parameter pointers, `extra` and the
/// number of parameters.
BNBRT_API void mgpuLaunchKernel(void *function, intptr_t grid_x,
                                intptr_t grid_y, intptr_t grid_z,
                                intptr_t block_x, intptr_t block_y,
                                intptr_t block_z, int32_t smem, void *stream,
                                void **params, void **extra,
                                int64_t params_count);

/// `declare ptr @mgpuStreamCreate()`: a non-blocking stream.
BNBRT_API void *mgpuStreamCreate(void);

/// `declare void @mgpuStreamDestroy(ptr)`.
BNBRT_API void mgpuStreamDestroy(void *stream);

/// `declare void @mgpuStreamSynchronize(ptr)`.
BNBRT_API void mgpuStreamSynchronize(void *stream);

/// `declare void @mgpuStreamWaitEvent(ptr, ptr)`.
BNBRT_API void mgpuStreamWaitEvent(void *stream, void *event);

/// `declare ptr @mgpuEventCreate()`: an event without timing.
BNBRT_API void *mgpuEventCreate(void);

/// `declare void @mgpuEventDestroy(ptr)`.
BNBRT_API void mgpuEventDestroy(void *event);

/// `declare void @mgpuEventSynchronize(ptr)`.
BNBRT_API void mgpuEventSynchronize(void *event);

/// `declare void @mgpuEventRecord(ptr, ptr)`: records `event` on `stream`.
BNBRT_API void mgpuEventRecord(void *event, void *stream);

/// `declare ptr @mgpuMemAlloc(i64, ptr, i8)`: allocates device memory
/// (managed memory when `is_host_shared` is 1) charged to the current
/// category. Returns NULL for zero bytes or on failure.
BNBRT_API void *mgpuMemAlloc(uint64_t bytes, void *stream,
                             uint8_t is_host_shared);

/// `declare void @mgpuMemFree(ptr, ptr)`: frees device memory; NULL is
/// ignored. Runs even after an error so nothing leaks.
BNBRT_API void mgpuMemFree(void *ptr, void *stream);

/// `declare void @mgpuMemcpy(ptr, ptr, i64, ptr)`: copies `bytes` on `stream`
/// between any two addresses (unified addressing).
BNBRT_API void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);

/// `declare void @mgpuMemset32(ptr, i32, i64, ptr)`: sets `count` 32-bit words.
BNBRT_API void mgpuMemset32(void *dst, uint32_t value, size_t count,
                            void *stream);

/// `declare void @mgpuMemset16(ptr, i16, i64, ptr)`: sets `count` 16-bit words.
BNBRT_API void mgpuMemset16(void *dst, uint16_t value, size_t count,
                            void *stream);

/// `declare void @mgpuSetDefaultDevice(i32)`: same as bnbrt_set_device.
BNBRT_API void mgpuSetDefaultDevice(int32_t device);

/// `declare void @mgpuMemHostRegisterMemRef(i64, ptr, i64)`: page-locks the
/// contiguous data of a ranked memref descriptor of `rank` dimensions.
BNBRT_API void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                                         int64_t element_size_bytes);

/// `declare void @mgpuMemHostUnregisterMemRef(i64, ptr, i64)`.
BNBRT_API void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                           int64_t element_size_bytes);

/// bnb extension, `ptr @bnbrtMemAlloc(i64, ptr, i32)`: like mgpuMemAlloc but
/// charged to `category` (a bnbrt_category). Freed with mgpuMemFree.
BNBRT_API void *bnbrtMemAlloc(uint64_t bytes, void *stream, int32_t category);

/// bnb extension, `ptr @bnbrtResidentConstant(ptr, i64)`: the device copy of
/// the `bytes` bytes of constant data at `host` (a constant global of the
/// calling module). The first call for `host` uploads them, synchronously,
/// into memory charged to BNBRT_CATEGORY_CONSTANTS; later calls return the
/// same copy until bnbrtReleaseResidentConstant(host). Returns NULL for zero
/// bytes, while an error is recorded, or on failure (recorded); asking for
/// another size than the copy has is an error.
BNBRT_API void *bnbrtResidentConstant(const void *host, uint64_t bytes);

/// bnb extension, `void @bnbrtReleaseResidentConstant(ptr)`: frees the device
/// copy of `host`, if there is one. Compiled modules call it for each of their
/// constants from a destructor, so unloading the module releases them. Runs
/// even while an error is recorded.
BNBRT_API void bnbrtReleaseResidentConstant(const void *host);

/*===----------------------------------------------------------------------===*
 * CPU (finalize-memref-to-llvm{use-generic-functions=true}, memref.copy)
 *===----------------------------------------------------------------------===*/

/// `declare ptr @_mlir_memref_to_llvm_alloc(i64)`: accounted malloc charged to
/// the current category.
BNBRT_API void *_mlir_memref_to_llvm_alloc(size_t size);

/// `declare ptr @_mlir_memref_to_llvm_aligned_alloc(i64, i64)`: accounted
/// aligned allocation (alignment first, as MLIR passes it).
BNBRT_API void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                   size_t size);

/// `declare void @_mlir_memref_to_llvm_free(ptr)`: frees what the two
/// functions above returned; NULL is ignored.
BNBRT_API void _mlir_memref_to_llvm_free(void *ptr);

/// An unranked memref as passed by pointer: the rank and a pointer to the
/// ranked descriptor {T *allocated; T *aligned; int64_t offset;
/// int64_t sizes[rank]; int64_t strides[rank];}.
typedef struct bnbrt_unranked_memref {
  int64_t rank;
  void *descriptor;
} bnbrt_unranked_memref;

/// `declare void @memrefCopy(i64, ptr, ptr)`: copies the elements of `src`
/// into `dst` (same shape, any strides), `element_size` bytes each.
BNBRT_API void memrefCopy(int64_t element_size, bnbrt_unranked_memref *src,
                          bnbrt_unranked_memref *dst);

/// bnb extension, `ptr @bnbrtHostAlloc(i64, i64, i32)`: accounted host
/// allocation charged to `category` with `alignment` (0: default). Freed with
/// _mlir_memref_to_llvm_free.
BNBRT_API void *bnbrtHostAlloc(uint64_t bytes, uint64_t alignment,
                               int32_t category);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // BNB_RUNTIME_ABI_H
