//===- TestHooks.h - internal hooks of the CPU microkernels -----*- C++ -*-===//
//
// Not part of the public ABI (bnb_ukernels.h): the unit tests use it to run
// every instruction set the machine supports in one process, since the
// BNB_UKERNEL_ISA environment variable is read only once, at first use.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_RUNTIME_LIB_UKERNELS_TESTHOOKS_H
#define BNB_RUNTIME_LIB_UKERNELS_TESTHOOKS_H

#include "bnb_runtime.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Makes the microkernels run with `isa` ("amx", "avx512", "avx2" or
/// "generic"), or with the default choice again when `isa` is null. Returns
/// 0, or -1 (and changes nothing) when the machine does not support `isa` or
/// the name is unknown.
BNBRT_API int bnbrt_ukernel_force_isa(const char *isa);

/// How many 4-bit GEMV calls took the AVX512-BF16 kernel, and how many of
/// its blocks took the exact fallback (denormal table entries), since the
/// library was loaded.
BNBRT_API void bnbrt_ukernel_bf16_gemv_stats(uint64_t *calls,
                                             uint64_t *fallbackBlocks);

/// How many GEMM calls (4-bit or bf16 weights, more than kGemvMaxRows rows)
/// took the AVX512-BF16 GEMM (KernelsAvx512Bf16Gemm.cpp) since the library
/// was loaded.
BNBRT_API uint64_t bnbrt_ukernel_bf16_gemm_calls(void);

/// How many batch-1 4-bit calls took a repacked weight (Repacked4bit.h), and
/// how many repacked weights are held now.
BNBRT_API void bnbrt_ukernel_repack_stats(uint64_t *calls, uint64_t *repacked);

/// How many int8 products took the AVX512-VNNI GEMM (KernelsAvx512Vnni.cpp)
/// since the library was loaded.
BNBRT_API uint64_t bnbrt_ukernel_vnni_gemm_calls(void);

#ifdef __cplusplus
}
#endif

#endif // BNB_RUNTIME_LIB_UKERNELS_TESTHOOKS_H
