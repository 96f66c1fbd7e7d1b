/*===- bnb_runtime_driver.h - CUDA driver table ---------------------*- C -*-===*
 *
 * The subset of the CUDA driver API libbnb_runtime uses, declared without the
 * CUDA headers, and the table of function pointers every driver call goes
 * through. The library fills the table from libcuda.so.1 with dlsym; tests
 * install a table of fakes with bnbrt_set_driver_table to inject failures.
 *
 * Field names are the symbols libcuda exports (the `_v2` names where the API
 * versions them). Defining BNBRT_DRIVER_TYPES_FROM_CUDA_H before including
 * this header takes the types from <cuda.h> instead, which lets a compile-time
 * test check every prototype against the real header.
 *
 *===----------------------------------------------------------------------===*/

#ifndef BNB_RUNTIME_DRIVER_H
#define BNB_RUNTIME_DRIVER_H

#include "bnb_runtime.h"

#ifdef BNBRT_DRIVER_TYPES_FROM_CUDA_H
#include <cuda.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef BNBRT_DRIVER_TYPES_FROM_CUDA_H
typedef CUresult bnbrt_cu_result;
typedef CUdevice bnbrt_cu_device;
typedef CUdeviceptr bnbrt_cu_deviceptr;
typedef CUcontext bnbrt_cu_context;
typedef CUmodule bnbrt_cu_module;
typedef CUfunction bnbrt_cu_function;
typedef CUstream bnbrt_cu_stream;
typedef CUevent bnbrt_cu_event;
typedef CUdevice_attribute bnbrt_cu_device_attribute;
typedef CUfunction_attribute bnbrt_cu_function_attribute;
typedef CUjit_option bnbrt_cu_jit_option;
#else
/// CUresult: 0 is CUDA_SUCCESS.
typedef int bnbrt_cu_result;
/// CUdevice: a device ordinal handle.
typedef int bnbrt_cu_device;
/// CUdeviceptr: a device address (64-bit on every supported platform).
typedef unsigned long long bnbrt_cu_deviceptr;
/// Opaque driver handles.
typedef struct bnbrt_cu_context_st *bnbrt_cu_context;
typedef struct bnbrt_cu_module_st *bnbrt_cu_module;
typedef struct bnbrt_cu_function_st *bnbrt_cu_function;
typedef struct bnbrt_cu_stream_st *bnbrt_cu_stream;
typedef struct bnbrt_cu_event_st *bnbrt_cu_event;
/// Driver enumerations, passed as int.
typedef int bnbrt_cu_device_attribute;
typedef int bnbrt_cu_function_attribute;
typedef int bnbrt_cu_jit_option;
#endif // BNBRT_DRIVER_TYPES_FROM_CUDA_H

/// Driver constants the runtime passes (values from cuda.h).
enum {
  BNBRT_CU_STREAM_NON_BLOCKING = 0x1,
  BNBRT_CU_EVENT_DEFAULT = 0x0,
  BNBRT_CU_EVENT_DISABLE_TIMING = 0x2,
  BNBRT_CU_MEM_ATTACH_GLOBAL = 0x1,
  BNBRT_CU_JIT_INFO_LOG_BUFFER = 3,
  BNBRT_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
  BNBRT_CU_JIT_ERROR_LOG_BUFFER = 5,
  BNBRT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  BNBRT_CU_JIT_OPTIMIZATION_LEVEL = 7,
  BNBRT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  BNBRT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
  BNBRT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
};

/// CUDA_SUCCESS and the error codes the runtime names itself.
enum {
  BNBRT_CUDA_SUCCESS = 0,
  BNBRT_CUDA_ERROR_INVALID_VALUE = 1,
  BNBRT_CUDA_ERROR_OUT_OF_MEMORY = 2,
  BNBRT_CUDA_ERROR_NOT_INITIALIZED = 3,
  BNBRT_CUDA_ERROR_STUB_LIBRARY = 34,
  BNBRT_CUDA_ERROR_NO_DEVICE = 100,
  BNBRT_CUDA_ERROR_INVALID_DEVICE = 101,
  BNBRT_CUDA_ERROR_INVALID_IMAGE = 200,
  BNBRT_CUDA_ERROR_INVALID_PTX = 218,
  BNBRT_CUDA_ERROR_INVALID_HANDLE = 400,
  BNBRT_CUDA_ERROR_NOT_FOUND = 500,
  BNBRT_CUDA_ERROR_ILLEGAL_ADDRESS = 700,
  BNBRT_CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
  BNBRT_CUDA_ERROR_LAUNCH_FAILED = 719,
  BNBRT_CUDA_ERROR_UNKNOWN = 999
};

/// Every driver entry point the runtime calls. A table installed with
/// bnbrt_set_driver_table must fill every field.
typedef struct bnbrt_driver_table {
  bnbrt_cu_result (*cuInit)(unsigned int flags);
  bnbrt_cu_result (*cuDriverGetVersion)(int *version);
  bnbrt_cu_result (*cuGetErrorName)(bnbrt_cu_result error, const char **name);
  bnbrt_cu_result (*cuGetErrorString)(bnbrt_cu_result error,
                                      const char **text);
  bnbrt_cu_result (*cuDeviceGetCount)(int *count);
  bnbrt_cu_result (*cuDeviceGet)(bnbrt_cu_device *device, int ordinal);
  bnbrt_cu_result (*cuDeviceGetName)(char *name, int length,
                                     bnbrt_cu_device device);
  bnbrt_cu_result (*cuDeviceGetAttribute)(int *value,
                                          bnbrt_cu_device_attribute attribute,
                                          bnbrt_cu_device device);
  bnbrt_cu_result (*cuDeviceTotalMem_v2)(size_t *bytes,
                                         bnbrt_cu_device device);
  bnbrt_cu_result (*cuDevicePrimaryCtxRetain)(bnbrt_cu_context *context,
                                              bnbrt_cu_device device);
  bnbrt_cu_result (*cuDevicePrimaryCtxRelease_v2)(bnbrt_cu_device device);
  bnbrt_cu_result (*cuCtxGetCurrent)(bnbrt_cu_context *context);
  bnbrt_cu_result (*cuCtxSetCurrent)(bnbrt_cu_context context);
  bnbrt_cu_result (*cuCtxSynchronize)(void);
  bnbrt_cu_result (*cuMemGetInfo_v2)(size_t *free_bytes, size_t *total_bytes);
  bnbrt_cu_result (*cuModuleLoadData)(bnbrt_cu_module *module,
                                      const void *image);
  bnbrt_cu_result (*cuModuleLoadDataEx)(bnbrt_cu_module *module,
                                        const void *image,
                                        unsigned int num_options,
                                        bnbrt_cu_jit_option *options,
                                        void **option_values);
  bnbrt_cu_result (*cuModuleUnload)(bnbrt_cu_module module);
  bnbrt_cu_result (*cuModuleGetFunction)(bnbrt_cu_function *function,
                                         bnbrt_cu_module module,
                                         const char *name);
  bnbrt_cu_result (*cuFuncSetAttribute)(bnbrt_cu_function function,
                                        bnbrt_cu_function_attribute attribute,
                                        int value);
  bnbrt_cu_result (*cuLaunchKernel)(
      bnbrt_cu_function function, unsigned int grid_x, unsigned int grid_y,
      unsigned int grid_z, unsigned int block_x, unsigned int block_y,
      unsigned int block_z, unsigned int shared_mem_bytes,
      bnbrt_cu_stream stream, void **params, void **extra);
  bnbrt_cu_result (*cuMemAlloc_v2)(bnbrt_cu_deviceptr *ptr, size_t bytes);
  bnbrt_cu_result (*cuMemAllocManaged)(bnbrt_cu_deviceptr *ptr, size_t bytes,
                                       unsigned int flags);
  bnbrt_cu_result (*cuMemFree_v2)(bnbrt_cu_deviceptr ptr);
  bnbrt_cu_result (*cuMemcpyAsync)(bnbrt_cu_deviceptr dst,
                                   bnbrt_cu_deviceptr src, size_t bytes,
                                   bnbrt_cu_stream stream);
  bnbrt_cu_result (*cuMemcpyHtoD_v2)(bnbrt_cu_deviceptr dst, const void *src,
                                     size_t bytes);
  bnbrt_cu_result (*cuMemcpyDtoH_v2)(void *dst, bnbrt_cu_deviceptr src,
                                     size_t bytes);
  bnbrt_cu_result (*cuMemcpyDtoD_v2)(bnbrt_cu_deviceptr dst,
                                     bnbrt_cu_deviceptr src, size_t bytes);
  bnbrt_cu_result (*cuMemsetD8_v2)(bnbrt_cu_deviceptr dst, unsigned char value,
                                   size_t count);
  bnbrt_cu_result (*cuMemsetD16Async)(bnbrt_cu_deviceptr dst,
                                      unsigned short value, size_t count,
                                      bnbrt_cu_stream stream);
  bnbrt_cu_result (*cuMemsetD32Async)(bnbrt_cu_deviceptr dst,
                                      unsigned int value, size_t count,
                                      bnbrt_cu_stream stream);
  bnbrt_cu_result (*cuMemHostRegister_v2)(void *ptr, size_t bytes,
                                          unsigned int flags);
  bnbrt_cu_result (*cuMemHostUnregister)(void *ptr);
  bnbrt_cu_result (*cuStreamCreate)(bnbrt_cu_stream *stream,
                                    unsigned int flags);
  bnbrt_cu_result (*cuStreamDestroy_v2)(bnbrt_cu_stream stream);
  bnbrt_cu_result (*cuStreamSynchronize)(bnbrt_cu_stream stream);
  bnbrt_cu_result (*cuStreamWaitEvent)(bnbrt_cu_stream stream,
                                       bnbrt_cu_event event,
                                       unsigned int flags);
  bnbrt_cu_result (*cuEventCreate)(bnbrt_cu_event *event, unsigned int flags);
  bnbrt_cu_result (*cuEventDestroy_v2)(bnbrt_cu_event event);
  bnbrt_cu_result (*cuEventRecord)(bnbrt_cu_event event,
                                   bnbrt_cu_stream stream);
  bnbrt_cu_result (*cuEventSynchronize)(bnbrt_cu_event event);
  /// Resolved as cuEventElapsedTime_v2 when the driver has it, else as
  /// cuEventElapsedTime (same signature).
  bnbrt_cu_result (*cuEventElapsedTime)(float *milliseconds,
                                        bnbrt_cu_event start,
                                        bnbrt_cu_event end);
} bnbrt_driver_table;

/// Makes every later driver call go through a copy of `table` instead of
/// libcuda (NULL: back to loading libcuda). Forgets the loaded driver, its
/// contexts and the kernel names, like a driver reload; call it before first
/// use or after bnbrt_reset(). A NULL required field makes initialization
/// fail with "no CUDA driver: ... does not provide <symbol>".
BNBRT_API void bnbrt_set_driver_table(const bnbrt_driver_table *table);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // BNB_RUNTIME_DRIVER_H
