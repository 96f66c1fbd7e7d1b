//===- DType.h - element types of checkpoint tensors ------------*- C++ -*-===//
//
// The element types a safetensors checkpoint holds, with their safetensors
// and torch spellings, and element access by index that works on unaligned
// data (safetensors data sections need not be naturally aligned).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_DTYPE_H
#define BNB_SUPPORT_DTYPE_H

#include "llvm/ADT/StringRef.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace bnb {

/// An element type of a checkpoint tensor.
enum class DType { F16, BF16, F32, F64, I8, U8, I16, I32, I64, Bool };

/// Bytes per element.
size_t dtypeSize(DType dt);

/// True for F16, BF16, F32 and F64.
bool isFloatingDType(DType dt);

/// The safetensors spelling: "F16", "BF16", "F32", "F64", "I8", "U8", "I16",
/// "I32", "I64", "BOOL".
llvm::StringRef dtypeSafetensorsName(DType dt);

/// Parses a safetensors dtype name (exact, case-sensitive).
std::optional<DType> parseSafetensorsDType(llvm::StringRef name);

/// The torch spelling without the "torch." prefix: "float16", "bfloat16",
/// "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool".
/// This is what bitsandbytes writes into a quant_state JSON blob.
llvm::StringRef torchDtypeName(DType dt);

/// Parses a torch dtype name, with or without the "torch." prefix, including
/// torch's aliases (half, float, double, short, int, long).
std::optional<DType> parseTorchDtype(llvm::StringRef name);

/// Element `i` of an array of `dt` at `data` (which need not be aligned),
/// converted to float: exact for F16, BF16, F32, Bool and for integers of
/// magnitude up to 2^24; F64 and larger integers are rounded to nearest even.
float loadAsFloat(const void *data, DType dt, size_t i);

/// Stores `v` as element `i` of an array of `dt` at `data` (which need not be
/// aligned). Floating types round to nearest even. Integer types round to
/// nearest even and saturate to the type's range, NaN stores 0; Bool stores
/// `v != 0` (NaN stores true).
void storeFromFloat(void *data, DType dt, size_t i, float v);

/// Converts `n` elements of `srcDt` at `src` to `dstDt` at `dst` through
/// float (one rounding for F32/F16/BF16 destinations); neither pointer needs
/// to be aligned. F64 sources are rounded to float first.
void convertElements(const void *src, DType srcDt, void *dst, DType dstDt,
                     size_t n);

/// NaN and infinity counts of an array.
struct NonFiniteCounts {
  uint64_t nans = 0;
  uint64_t infinities = 0;
};

/// Counts the NaN and infinite elements of `n` elements of `dt` at `data`
/// (unaligned allowed; integer and Bool arrays have none).
NonFiniteCounts countNonFinite(const void *data, DType dt, size_t n);

} // namespace bnb

#endif // BNB_SUPPORT_DTYPE_H
