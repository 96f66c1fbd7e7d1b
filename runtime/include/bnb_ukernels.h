/*===- bnb_ukernels.h - CPU microkernels of compiled models ----------*- C -*-===*
 *
 * The CPU lowering (convert-bnb-to-ukernels) turns the expensive ops of a
 * model -- the 4-bit and float linears and the int8 product of LLM.int8() --
 * into calls of these functions, as IREE does with its ukernels. They read
 * packed weights once, dequantize in registers, pick the best instruction
 * set of the machine at run time (AMX for the GEMMs of at least 16 rows,
 * AVX-512, AVX2+FMA+F16C, or portable C++),
 * and split the output columns over the runtime's thread pool.
 *
 * Calling convention: each function is declared in MLIR as a private
 * func.func with `llvm.emit_c_interface`, so compiled code calls the
 * `_mlir_ciface_` symbol below with a pointer to a ranked memref descriptor
 * ({T *allocated; T *aligned; int64_t offset; int64_t sizes[R];
 * int64_t strides[R]}) for every memref and plain values for the rest. The
 * lowering passes dense row-major memrefs only; ranks are as documented.
 *
 * Numerics (docs/numerics.md, "CPU microkernels"):
 *  - a 4-bit weight element is w = T(f32(codebook[q] * absmax[blk])), T the
 *    compute dtype, exactly as bnb.dequantize_4bit and lib/Quant compute it;
 *    with double quantization absmax[blk] =
 *    f32(f32(code8[c[blk]] * nested[blk / nestedBlocksize]) + offset);
 *  - float linears accumulate x * w in f32 (the order of the k reduction is
 *    the kernel's; it never depends on the thread count);
 *  - the bf16 4-bit GEMV on AVX512-BF16 (vdpbf16ps) takes x, x*w and partial
 *    sums below 2^-126 in magnitude as zero (w stays exact, even denormal);
 *  - the int8 product is the exact int32 sum;
 *  - on AMX (16 or more rows of x; compute dtype bf16 for the 4-bit linear,
 *    bf16 weights for the float one, whose x must then hold bf16 values
 *    only, else the AVX-512 kernel runs) the weights are the same bf16
 *    values and each product x * w is exact in f32, but the hardware sums
 *    32 products at a time in its own order and treats bf16 denormal
 *    inputs (and f32 denormal results) as zero, so results may differ from
 *    the AVX-512 kernels in the last bits, never with the thread count.
 * On a size mismatch between descriptors the kernel records a runtime error
 * (bnbrt_last_error) and writes nothing.
 *
 *===----------------------------------------------------------------------===*/

#ifndef BNB_UKERNELS_H
#define BNB_UKERNELS_H

#include "bnb_runtime.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Compute / weight dtype codes of the ukernel arguments.
enum bnbrt_uk_dtype {
  BNBRT_UK_F32 = 0,
  BNBRT_UK_F16 = 1,
  BNBRT_UK_BF16 = 2,
};

/// 4-bit linear, absmax in f32:
///   out[m, n] = sum_k x[m, k] * T(f32(codebook[q(n*K + k)] * absmax[(n*K + k)
///               / blocksize]))
/// out: f32 [M, N]; x: f32 [M, K] (already rounded to the compute dtype by
/// the caller); packed: ui8 [ceil(N*K/2)], element e in the high nibble of
/// byte e/2 when e is even; absmax: f32 [ceil(N*K/blocksize)];
/// codebook: f32 [16]; compute: a bnbrt_uk_dtype.
BNBRT_API void _mlir_ciface_bnbrt_uk_linear_4bit(void *out, void *x,
                                                 void *packed, void *absmax,
                                                 void *codebook,
                                                 int64_t blocksize,
                                                 int64_t compute);

/// 4-bit linear with double-quantized absmax: as bnbrt_uk_linear_4bit, with
/// absmax[b] = f32(f32(code8[codes[b]] * nested[b / nestedBlocksize]) +
/// offset), the product rounded before the add (no FMA).
/// codes: ui8 [nblocks]; nested: f32 [ceil(nblocks/nestedBlocksize)];
/// code8: f32 [256].
BNBRT_API void _mlir_ciface_bnbrt_uk_linear_4bit_dq(
    void *out, void *x, void *packed, void *codes, void *nested, void *code8,
    void *codebook, int64_t blocksize, int64_t nestedBlocksize, float offset,
    int64_t compute);

/// Float linear with f32 accumulation: out f32 [M, N]; x f32 [M, K];
/// w [N, K] when `transposed` != 0 (nn.Linear: x * w^T) or [K, N] otherwise
/// (Conv1D: x * w), of element type f32, f16 or bf16 by the suffix.
BNBRT_API void _mlir_ciface_bnbrt_uk_matmul_f32(void *out, void *x, void *w,
                                                int64_t transposed);
BNBRT_API void _mlir_ciface_bnbrt_uk_matmul_f16(void *out, void *x, void *w,
                                                int64_t transposed);
BNBRT_API void _mlir_ciface_bnbrt_uk_matmul_bf16(void *out, void *x, void *w,
                                                 int64_t transposed);

/// LLM.int8() product: out[m, n] = sum_k a[m, k] * b[n, k], exact in int32.
/// out: i32 [M, N]; a: i8 [M, K]; b: i8 [N, K].
BNBRT_API void _mlir_ciface_bnbrt_uk_int8_matmul(void *out, void *a, void *b);

/// Declares that the `bytes` bytes at `data` hold model weights that nothing
/// writes until bnbrt_uk_weights_release(data): the 4-bit linears may then
/// keep a copy of a weight in that range repacked for batch 1 (16 rows
/// interleaved, absmax as f32; made at the weight's first batch-1 call,
/// charged to BNBRT_CATEGORY_WEIGHTS, on AVX-512 machines). Same values
/// dequantized; the f32 sums run in another order. BNB_UKERNEL_REPACK=0
/// turns repacking off. Registering the same range again counts it twice.
/// Returns 0, or -1 (and registers nothing) for a null or empty range or
/// one that overlaps another registered range without equalling it.
BNBRT_API int bnbrt_uk_weights_register(const void *data, uint64_t bytes);

/// Undoes one bnbrt_uk_weights_register of the range starting at `data`;
/// the last one frees every repacked copy made from the range. Call it
/// before the memory is written, unmapped or freed, and not while a call
/// that reads those weights runs. Unknown ranges are ignored.
BNBRT_API void bnbrt_uk_weights_release(const void *data);

/// Threads the microkernels use: `n` >= 1, or 0 for the default
/// (BNB_NUM_THREADS if set, else the number of CPUs this process may run
/// on). Returns the count now in effect.
BNBRT_API int bnbrt_set_num_threads(int n);

/// The number of threads the microkernels use.
BNBRT_API int bnbrt_get_num_threads(void);

/// The instruction set the microkernels run with on this machine:
/// "amx" (AVX-512 plus AMX-BF16/INT8 GEMMs), "avx512", "avx2" or
/// "generic". BNB_UKERNEL_ISA=avx512|avx2|generic forces a lower one (for
/// tests and benchmarks; avx512 turns AMX off).
BNBRT_API const char *bnbrt_ukernel_isa(void);

#ifdef __cplusplus
}
#endif

#endif /* BNB_UKERNELS_H */
