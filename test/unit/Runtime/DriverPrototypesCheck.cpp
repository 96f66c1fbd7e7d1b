//===- DriverPrototypesCheck.cpp - driver table against cuda.h ------------===//
//
// Compile-time check, built only where the CUDA toolkit headers exist: with
// the types taken from cuda.h, every field of bnbrt_driver_table has exactly
// the type of the function libcuda exports under that name, and every
// constant the runtime passes has the value cuda.h gives it.
//
//===----------------------------------------------------------------------===//

#define BNBRT_DRIVER_TYPES_FROM_CUDA_H
#include "DriverLayout.h"

#include <type_traits>

BNB_CHECK_DRIVER_LAYOUT();

// cuda.h maps some names to versioned symbols with macros (cuMemAlloc ->
// cuMemAlloc_v2); the field names already are the exported symbols, and a
// field named like a macro (cuEventElapsedTime) is renamed consistently.
#define CHECK_PROTOTYPE(field)                                                 \
  static_assert(std::is_same_v<decltype(bnbrt_driver_table::field),            \
                               decltype(&::field)>,                            \
                "prototype of " #field " differs from cuda.h");
#define BNBRT_DRIVER_SYMBOL(field, required) CHECK_PROTOTYPE(field)
#include "../../../runtime/lib/DriverSymbols.def"

#define CHECK_CONSTANT(ours, theirs)                                           \
  static_assert(int(ours) == int(theirs), #ours " differs from cuda.h");
CHECK_CONSTANT(BNBRT_CU_STREAM_NON_BLOCKING, CU_STREAM_NON_BLOCKING)
CHECK_CONSTANT(BNBRT_CU_EVENT_DEFAULT, CU_EVENT_DEFAULT)
CHECK_CONSTANT(BNBRT_CU_EVENT_DISABLE_TIMING, CU_EVENT_DISABLE_TIMING)
CHECK_CONSTANT(BNBRT_CU_MEM_ATTACH_GLOBAL, CU_MEM_ATTACH_GLOBAL)
CHECK_CONSTANT(BNBRT_CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER)
CHECK_CONSTANT(BNBRT_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
               CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES)
CHECK_CONSTANT(BNBRT_CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER)
CHECK_CONSTANT(BNBRT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
               CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
CHECK_CONSTANT(BNBRT_CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_OPTIMIZATION_LEVEL)
CHECK_CONSTANT(BNBRT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
               CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
CHECK_CONSTANT(BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
               CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
CHECK_CONSTANT(BNBRT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
               CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
CHECK_CONSTANT(BNBRT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
               CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
CHECK_CONSTANT(BNBRT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
               CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
CHECK_CONSTANT(BNBRT_CUDA_ERROR_OUT_OF_MEMORY, CUDA_ERROR_OUT_OF_MEMORY)
CHECK_CONSTANT(BNBRT_CUDA_ERROR_STUB_LIBRARY, CUDA_ERROR_STUB_LIBRARY)
CHECK_CONSTANT(BNBRT_CUDA_ERROR_NO_DEVICE, CUDA_ERROR_NO_DEVICE)
CHECK_CONSTANT(BNBRT_CUDA_ERROR_INVALID_PTX, CUDA_ERROR_INVALID_PTX)
CHECK_CONSTANT(BNBRT_CUDA_ERROR_NOT_FOUND, CUDA_ERROR_NOT_FOUND)
CHECK_CONSTANT(BNBRT_CUDA_ERROR_ILLEGAL_ADDRESS, CUDA_ERROR_ILLEGAL_ADDRESS)
CHECK_CONSTANT(BNBRT_CUDA_ERROR_LAUNCH_FAILED, CUDA_ERROR_LAUNCH_FAILED)
