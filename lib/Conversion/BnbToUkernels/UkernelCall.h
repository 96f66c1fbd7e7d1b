//===- UkernelCall.h - tensor-level calls of runtime microkernels -*- C++ -*-===//
//
// The CPU microkernels of libbnb_runtime (runtime/include/bnb_ukernels.h)
// take memref descriptors. These helpers call them from tensor-level IR so
// that one-shot bufferization places every buffer.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_BNBTOUKERNELS_UKERNELCALL_H
#define BNB_CONVERSION_BNBTOUKERNELS_UKERNELCALL_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::bnb::ukernels {

/// Microkernel symbols (without the `_mlir_ciface_` prefix the C interface
/// adds).
inline constexpr StringLiteral kLinear4bit = "bnbrt_uk_linear_4bit";
inline constexpr StringLiteral kLinear4bitDq = "bnbrt_uk_linear_4bit_dq";
inline constexpr StringLiteral kInt8Matmul = "bnbrt_uk_int8_matmul";

/// Marks the microkernel declarations this conversion creates.
inline constexpr StringLiteral kUkernelAttr = "bnb.ukernel";

/// True unless `module` defines `symbol` as something other than a
/// microkernel declaration of this conversion (a name clash).
bool symbolAvailable(ModuleOp module, StringRef symbol);

/// The float-matmul microkernel for a weight of element type `weightType`
/// (f32, f16 or bf16), or an empty string for another type.
StringRef matmulSymbol(Type weightType);

/// The bnbrt_uk_dtype code of a float type (f32 0, f16 1, bf16 2), or -1.
int64_t dtypeCode(Type type);

/// Emits `out = symbol(out, operands..., scalars...)`: every tensor operand
/// is passed as a dense row-major memref (unsigned byte tensors as i8), the
/// result is a new buffer of `resultType` returned as a tensor. Declares the
/// private `symbol` with `llvm.emit_c_interface` in `module` on first use.
Value callUkernel(OpBuilder &b, Location loc, ModuleOp module,
                  StringRef symbol, RankedTensorType resultType,
                  ValueRange operands, ValueRange scalars);

/// Flattens a tensor to 1-D.
Value flatten1D(OpBuilder &b, Location loc, Value tensor);

/// A constant f32 tensor holding `values`.
Value f32Constant(OpBuilder &b, Location loc, ArrayRef<float> values);

} // namespace mlir::bnb::ukernels

#endif // BNB_CONVERSION_BNBTOUKERNELS_UKERNELCALL_H
