//===- QuantCodegen.h - bitsandbytes' numerics as scalar IR -----*- C++ -*-===//
//
// The one place where the compiler turns bitsandbytes' numerics into IR. Each
// function emits the scalar arith/math operations of one formula of
// docs/numerics.md at the builder's insertion point, so the Linalg (CPU)
// lowering and the GPU kernels generate bit-identical arithmetic. The
// functions take any OpBuilder (a linalg.generic body builder, the GPU
// KernelBuilder, ...); what differs per backend, the lookup of a constant
// table, is passed in as a callback. The constants come from lib/Quant.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_QUANTCODEGEN_H
#define BNB_CONVERSION_QUANTCODEGEN_H

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::bnb::codegen {

/// Returns entry `index` (an i32 in range) of a constant f32 table. The CPU
/// lowering extracts from a tensor constant, the GPU kernels load from a
/// memref.global.
using TableLookupFn =
    llvm::function_ref<Value(OpBuilder &, Location, Value index)>;

//===--- Tables -----------------------------------------------------------===//

/// The 16 f32 values of the 4-bit code book of `quantType`, by code.
ArrayRef<float> codeTable4bit(QuantType quantType);

//===--- Blockwise quantization -------------------------------------------===//

/// `1 / absmax` (f32), the IEEE reciprocal every bnb-mlir kernel uses in
/// place of bitsandbytes' approximate one (reciprocal() in lib/Quant).
Value emitReciprocal(OpBuilder &b, Location loc, Value absmax);

/// `f32(x * inverse)`: an element normalized by the reciprocal of its
/// block's absmax.
Value emitNormalize(OpBuilder &b, Location loc, Value x, Value inverse);

/// The number of `thresholds` strictly below the f32 `x`, as i32; NaN counts
/// none.
Value emitCountBelow(OpBuilder &b, Location loc, Value x,
                     ArrayRef<float> thresholds);

/// The 4-bit code (i32) of the normalized f32 `x`: the count of NF4
/// thresholds below x, or FP4's sign bit (x < 0, so -0.0 and NaN get none)
/// over the magnitude code of |x|. NaN gets code 0.
Value emitEncode4bit(OpBuilder &b, Location loc, QuantType quantType,
                     Value x);

/// The byte (i32, bits 0-7) holding two 4-bit codes, the first element in
/// the high nibble.
Value emitPackNibbles(OpBuilder &b, Location loc, Value high, Value low);

/// The 4-bit code (i32) of element `isOdd` (i1) of the i32 `byte`: the high
/// nibble for the first (even) element, the low one for the second.
Value emitUnpackNibble(OpBuilder &b, Location loc, Value byte, Value isOdd);

/// The dynamic-map index (i32) of the normalized f32 `x`: the nearest map
/// entry with the f32 midpoints `f32((map[i] + map[i+1]) * 0.5)` as
/// boundaries, an exact midpoint going to the even index, below map[0] to 0,
/// above map[255] to 255, NaN to 0 (the kernel's binary search).
Value emitEncodeDynamic(OpBuilder &b, Location loc, Value x,
                        TableLookupFn dynamicMap);

/// `f32(codeValue * absmax)`: a dequantized element before its rounding to
/// the result type.
Value emitDequantizeValue(OpBuilder &b, Location loc, Value codeValue,
                          Value absmax);

/// The absmax of a block under double quantization,
/// `f32(f32(map[code] * nestedAbsmax) + offset)` with two roundings, where
/// `code` (i32) is the block's 8-bit code and `nestedAbsmax` the statistic of
/// its group of kNestedBlocksize blocks.
Value emitDoubleQuantAbsmax(OpBuilder &b, Location loc, Value code,
                            Value nestedAbsmax, Value offset,
                            TableLookupFn dynamicMap);

//===--- LLM.int8() -------------------------------------------------------===//

/// The row scale `f32(127 * f32(1 / absmax))`: bitsandbytes'
/// `__fdividef(127, absmax)` with a correctly rounded reciprocal (int8Scale()
/// in lib/Quant). A zero row gives +inf.
Value emitInt8RowScale(OpBuilder &b, Location loc, Value absmax);

/// The int8 code (i8) of the scaled f32 `v`, as roundToInt8() in lib/Quant:
/// rounded half to even, NaN to 0, saturated to int32, then the low byte.
Value emitRoundToInt8(OpBuilder &b, Location loc, Value v);

/// int8_mm_dequant: `f16(fma(f32(f32(f32(c) * rowStat) * colStat),
/// kInt8MatmulDequantScale, bias))` for the i32 `c`; `bias` is an f32 or
/// null (0).
Value emitDequantizeInt8(OpBuilder &b, Location loc, Value c, Value rowStat,
                         Value colStat, Value bias);

/// int8_vectorwise_dequant of a weight element: `f32(f32(f32(cb) * scb) *
/// kInt8WeightDequantScale)` for a signed integer `cb`.
Value emitDequantizeInt8Weight(OpBuilder &b, Location loc, Value cb,
                               Value scb);

} // namespace mlir::bnb::codegen

#endif // BNB_CONVERSION_QUANTCODEGEN_H
