//===- BnbAttrs.h - bnb attributes --------------------------------*- C++ -*-===//
//
// Declares #bnb.config and #bnb.quant_type.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_IR_BNBATTRS_H
#define BNB_DIALECT_BNB_IR_BNBATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/APFloat.h"

#include "bnb/Dialect/Bnb/IR/BnbEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "bnb/Dialect/Bnb/IR/BnbAttrs.h.inc"

namespace mlir::bnb {

/// Returns true for the blocksizes bitsandbytes accepts for 4-bit
/// quantization: 32, 64, ..., 4096.
bool isValid4bitBlocksize(int64_t blocksize);

/// Returns true for the blocksizes bitsandbytes accepts for 8-bit blockwise
/// quantization: 64, 128, ..., 4096.
bool isValidBlockwiseBlocksize(int64_t blocksize);

/// Returns true for the element types transformers accepts as
/// `bnb_4bit_quant_storage` (float16, float32, int8, uint8, float64, bfloat16).
bool isValidQuantStorage(Type type);

/// Returns true for the element types allowed as `bnb_4bit_compute_dtype`.
bool isValidComputeDtype(Type type);

/// The torch dtype name of an element type ("float16", "bfloat16", ...), or
/// an empty string when there is none.
StringRef getTorchDtypeName(Type type);

/// Parses a torch dtype name (with or without the `torch.` prefix) or an MLIR
/// type spelling (`f16`, `bf16`, `f32`, `ui8`, ...); returns a null type when
/// the name is unknown.
Type parseDtypeName(MLIRContext *context, StringRef name);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_IR_BNBATTRS_H
