//===- BnbDialect.td - bnb dialect definition --------------*- tablegen -*-===//
//
// The `bnb` dialect models bitsandbytes' quantized linear layers (LLM.int8()
// and 4-bit NF4/FP4) and the primitive quantization ops they expand into.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_IR_BNBDIALECT_TD
#define BNB_DIALECT_BNB_IR_BNBDIALECT_TD

include "mlir/IR/OpBase.td"

def Bnb_Dialect : Dialect {
  let name = "bnb";
  let cppNamespace = "::mlir::bnb";
  let summary = "bitsandbytes-compatible quantized linear layers";
  let description = [{
    The `bnb` dialect reproduces, op by op, what bitsandbytes does when
    transformers loads a model with `BitsAndBytesConfig`: `bnb.linear_int8`
    (LLM.int8() with fp16 outlier columns) and `bnb.linear_4bit` (blockwise
    NF4/FP4 with optional double quantization of the absmax), and the
    primitive ops they expand into. The numerics of every op are those of the
    bitsandbytes CUDA kernels; see docs/numerics.md.

    Tensor conventions:
    * int8 data is `i8` (signed); packed 4-bit codes and 8-bit blockwise codes
      are `ui8` bytes, two 4-bit codes per byte with the first element in the
      high nibble;
    * a packed 4-bit weight of `n` elements has shape `[ceil(n/2), 1]`, as
      bitsandbytes stores it; blocks run over the row-major flattening;
    * per-block absmax and per-row statistics are `f32`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
    /// Registers the dialect's attributes (defined in BnbAttrs.cpp).
    void registerAttributes();
  }];
}

class Bnb_Op<string mnemonic, list<Trait> traits = []>
    : Op<Bnb_Dialect, mnemonic, traits>;

#endif // BNB_DIALECT_BNB_IR_BNBDIALECT_TD
