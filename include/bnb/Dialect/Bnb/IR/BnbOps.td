//===- BnbOps.td - bnb operations --------------------------*- tablegen -*-===//

#ifndef BNB_DIALECT_BNB_IR_BNBOPS_TD
#define BNB_DIALECT_BNB_IR_BNBOPS_TD

include "bnb/Dialect/Bnb/IR/BnbDialect.td"
include "bnb/Dialect/Bnb/IR/BnbAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Bnb_FloatElt : AnyTypeOf<[F16, BF16, F32]>;
def Bnb_FloatTensor : RankedTensorOf<[F16, BF16, F32]>;
def Bnb_F16Tensor : RankedTensorOf<[F16]>;
def Bnb_F32Tensor : RankedTensorOf<[F32]>;
def Bnb_I8Tensor : RankedTensorOf<[I8]>;
def Bnb_I32Tensor : RankedTensorOf<[I32]>;
def Bnb_I64Tensor : RankedTensorOf<[I64]>;
def Bnb_U8Tensor : RankedTensorOf<[UI8]>;
/// A linear weight: float before quantization, i8 (LLM.int8()) or packed ui8
/// (4-bit) after.
def Bnb_WeightTensor : RankedTensorOf<[F16, BF16, F32, I8, UI8]>;
/// Per-block absmax: f32, or ui8 codes under double quantization.
def Bnb_AbsmaxTensor : RankedTensorOf<[F32, UI8]>;

//===----------------------------------------------------------------------===//
// Linear layers
//===----------------------------------------------------------------------===//

def Bnb_LinearInt8Op : Bnb_Op<"linear_int8",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "LLM.int8() linear layer (bitsandbytes Linear8bitLt)";
  let description = [{
    `y = x · Wᵀ (+ bias)` computed as bitsandbytes' `Linear8bitLt` does in
    inference: activations are cast to f16 and quantized row-wise to int8,
    columns holding any `|x| >= threshold` go through an f16 outlier path
    against the dequantized int8 weight, the int8 product is dequantized with
    the row and column statistics, and the result passes through f16 before it
    is cast to the input's element type.

    The weight is either the float weight (before `bnb-quantize-weights`, or
    kept in 16 bits when `has_fp16_weight` is set, in which case it is
    quantized at run time) or the int8 weight `CB` `[N, K]` with its per-row
    absmax `scb` `[N]`. `module` is the module name the skip list matched
    against (the weight's checkpoint key without `.weight`). `conv1d` marks a
    float weight stored `[K, N]` as GPT-2's Conv1D does.

    Example:

    ```mlir
    %y = bnb.linear_int8 %x, %cb scb(%scb : tensor<32xf32>)
           bias(%b : tensor<32xf16>) {module = "model.layers.0.mlp.up_proj",
           threshold = 6.0 : f32} : tensor<2x16xf16>, tensor<32x16xi8>
           -> tensor<2x32xf16>
    ```
  }];
  let arguments = (ins
    Bnb_FloatTensor:$input,
    Bnb_WeightTensor:$weight,
    Optional<Bnb_F32Tensor>:$scb,
    Optional<Bnb_FloatTensor>:$bias,
    StrAttr:$module,
    DefaultValuedAttr<F32Attr, "6.0">:$threshold,
    UnitAttr:$has_fp16_weight,
    UnitAttr:$conv1d
  );
  let results = (outs Bnb_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`scb` `(` $scb^ `:` type($scb) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict
    `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True once the weight is int8 with its SCB.
    bool isQuantized() { return getScb() != nullptr; }
    /// Output features N.
    int64_t getOutFeatures();
    /// Input features K.
    int64_t getInFeatures();
  }];
}

def Bnb_Linear4bitOp : Bnb_Op<"linear_4bit",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "4-bit NF4/FP4 linear layer (bitsandbytes Linear4bit)";
  let description = [{
    `y = x · Wᵀ (+ bias)` with a blockwise 4-bit weight, as bitsandbytes'
    `Linear4bit` computes it: `x` is cast to `compute_dtype`, the weight is
    dequantized to `compute_dtype`, the matmul and the bias add run in
    `compute_dtype`, and the result is cast back to the input's element type.

    The weight is either the float weight `[N, K]` (before
    `bnb-quantize-weights`; `[K, N]` when `conv1d` is set), or the packed
    codes `[ceil(N·K/2), 1]` (`ui8`, first element in the high nibble) with
    one absmax per `blocksize` elements of the row-major flattening. Under
    double quantization the absmax is `ui8` codes into the signed dynamic
    map, with `nested_absmax` (one `f32` per 256 blocks) and the
    `nested_offset` that was subtracted before nested quantization.
    `shape` is `[N, K]`; `quant_storage` is the dtype the packed bytes are
    serialized as.

    Example:

    ```mlir
    %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>)
           {module = "model.layers.0.mlp.up_proj", quant_type = #bnb.quant_type<nf4>,
            blocksize = 64 : i64, compute_dtype = bf16, shape = array<i64: 32, 16>}
           : tensor<2x16xbf16>, tensor<256x1xui8> -> tensor<2x32xbf16>
    ```
  }];
  let arguments = (ins
    Bnb_FloatTensor:$input,
    Bnb_WeightTensor:$weight,
    Optional<Bnb_AbsmaxTensor>:$absmax,
    Optional<Bnb_F32Tensor>:$nested_absmax,
    Optional<Bnb_FloatTensor>:$bias,
    StrAttr:$module,
    Bnb_QuantTypeAttr:$quant_type,
    DefaultValuedAttr<I64Attr, "64">:$blocksize,
    TypeAttr:$compute_dtype,
    DenseI64ArrayAttr:$shape,
    OptionalAttr<TypeAttr>:$quant_storage,
    OptionalAttr<F32Attr>:$nested_offset,
    UnitAttr:$conv1d
  );
  let results = (outs Bnb_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`absmax` `(` $absmax^ `:` type($absmax) `)`)?
    (`nested` `(` $nested_absmax^ `:` type($nested_absmax) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict
    `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// True once the weight is packed 4-bit codes with their absmax.
    bool isQuantized() { return getAbsmax() != nullptr; }
    /// True under double quantization.
    bool isNested() { return getNestedAbsmax() != nullptr; }
    /// Output features N.
    int64_t getOutFeatures() { return getShape()[0]; }
    /// Input features K.
    int64_t getInFeatures() { return getShape()[1]; }
  }];
}

//===----------------------------------------------------------------------===//
// LLM.int8() primitives
//===----------------------------------------------------------------------===//

def Bnb_QuantizeRowwiseOp : Bnb_Op<"quantize_rowwise", [Pure]> {
  let summary = "vector-wise int8 quantization (bitsandbytes int8_vectorwise_quant)";
  let description = [{
    Quantizes each row of an f16 matrix to int8 with scale
    `127 * (1 / absmax)` (the CUDA kernel's `__fdividef(127, absmax)`: a
    reciprocal and a multiply, each rounded to f32), rounding half to even. With `threshold > 0`, elements with
    `|x| >= threshold` are left out of the row absmax and written as 0, and
    every column that holds such an element is zeroed in all rows. `stats`
    is the per-row absmax in f32 (bitsandbytes' `SCA`/`SCB`).

    Example:

    ```mlir
    %q, %s = bnb.quantize_rowwise %x {threshold = 6.0 : f32}
               : tensor<4x16xf16> -> tensor<4x16xi8>, tensor<4xf32>
    ```
  }];
  let arguments = (ins Bnb_F16Tensor:$input,
                       DefaultValuedAttr<F32Attr, "0.0">:$threshold);
  let results = (outs Bnb_I8Tensor:$result, Bnb_F32Tensor:$stats);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($result) `,` type($stats)
  }];
  let hasVerifier = 1;
}

def Bnb_OutlierSplitOp : Bnb_Op<"outlier_split", [Pure]> {
  let summary = "LLM.int8() outlier column detection and extraction";
  let description = [{
    Finds the columns of `input` that hold any element with
    `|f16(x)| >= threshold` (the decision is taken on the f16 cast, as
    bitsandbytes does) and returns their indices in ascending order and the
    sub-matrix of those columns in the input's own element type. The rest of
    the columns form the int8 stream (`bnb.quantize_rowwise` zeroes the
    outlier columns there). The number of outlier columns is data-dependent,
    so the results are usually dynamically shaped.

    Example:

    ```mlir
    %cols, %sub = bnb.outlier_split %x {threshold = 6.0 : f32}
                    : tensor<4x16xf16> -> tensor<?xi64>, tensor<4x?xf16>
    ```
  }];
  let arguments = (ins Bnb_FloatTensor:$input, F32Attr:$threshold);
  let results = (outs Bnb_I64Tensor:$columns, Bnb_FloatTensor:$outliers);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($columns) `,` type($outliers)
  }];
  let hasVerifier = 1;
}

def Bnb_Int8MatmulOp : Bnb_Op<"int8_matmul", [Pure]> {
  let summary = "int8 × int8ᵀ → int32 matmul";
  let description = [{
    `result[m, n] = Σ_k lhs[m, k] · rhs[n, k]`, exact int32 accumulation
    (bitsandbytes `int8_linear_matmul`, `A @ B.T`).

    Example:

    ```mlir
    %c = bnb.int8_matmul %a, %b : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<4x32xi32>
    ```
  }];
  let arguments = (ins Bnb_I8Tensor:$lhs, Bnb_I8Tensor:$rhs);
  let results = (outs Bnb_I32Tensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Bnb_DequantizeInt8Op : Bnb_Op<"dequantize_int8", [Pure]> {
  let summary = "int32 → f16 with row and column statistics (bitsandbytes int8_mm_dequant)";
  let description = [{
    `result[m, n] = f16(fma(f32(f32(f32(c) · row_stats[m]) · col_stats[n]),
    6.200012e-05, bias[n]))`: bitsandbytes' CUDA formula, with the constant
    `1/127²` and a single FMA with the f16 bias (0 when absent). The result is
    always f16.

    Example:

    ```mlir
    %y = bnb.dequantize_int8 %c, %sa, %sb bias(%b : tensor<32xf16>)
           : tensor<4x32xi32>, tensor<4xf32>, tensor<32xf32> -> tensor<4x32xf16>
    ```
  }];
  let arguments = (ins Bnb_I32Tensor:$input, Bnb_F32Tensor:$row_stats,
                       Bnb_F32Tensor:$col_stats, Optional<Bnb_F16Tensor>:$bias);
  let results = (outs Bnb_F16Tensor:$result);
  let assemblyFormat = [{
    $input `,` $row_stats `,` $col_stats (`bias` `(` $bias^ `:` type($bias) `)`)?
    attr-dict `:` type($input) `,` type($row_stats) `,` type($col_stats)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Blockwise primitives
//===----------------------------------------------------------------------===//

def Bnb_Quantize4bitOp : Bnb_Op<"quantize_4bit", [Pure]> {
  let summary = "blockwise NF4/FP4 quantization (bitsandbytes quantize_4bit)";
  let description = [{
    Splits the row-major flattening of `input` into blocks of `blocksize`
    elements, takes each block's absmax in f32, maps `x · (1/absmax)` to the
    nearest 4-bit code of `quant_type` by bitsandbytes' thresholds and packs
    two codes per byte, the first element in the high nibble. An odd length
    is padded with the code of 0.

    Example:

    ```mlir
    %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64}
               : tensor<32x16xf16> -> tensor<256x1xui8>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Bnb_FloatTensor:$input, Bnb_QuantTypeAttr:$quant_type,
                       DefaultValuedAttr<I64Attr, "64">:$blocksize);
  let results = (outs Bnb_U8Tensor:$packed, Bnb_F32Tensor:$absmax);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($packed) `,` type($absmax)
  }];
  let hasVerifier = 1;
}

def Bnb_Dequantize4bitOp : Bnb_Op<"dequantize_4bit", [Pure]> {
  let summary = "blockwise NF4/FP4 dequantization (bitsandbytes dequantize_4bit)";
  let description = [{
    `result[e] = T(f32(code[nibble(e)] · absmax[e / blocksize]))` over the
    row-major flattening of the result, `T` its element type. The packed
    operand holds `ceil(numel(result)/2)` bytes.

    Example:

    ```mlir
    %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64}
           : tensor<256x1xui8>, tensor<8xf32> -> tensor<32x16xf16>
    ```
  }];
  let arguments = (ins Bnb_U8Tensor:$packed, Bnb_F32Tensor:$absmax,
                       Bnb_QuantTypeAttr:$quant_type,
                       DefaultValuedAttr<I64Attr, "64">:$blocksize);
  let results = (outs Bnb_FloatTensor:$result);
  let assemblyFormat = [{
    $packed `,` $absmax attr-dict `:` type($packed) `,` type($absmax)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def Bnb_QuantizeBlockwiseOp : Bnb_Op<"quantize_blockwise", [Pure]> {
  let summary = "8-bit blockwise quantization with the signed dynamic map";
  let description = [{
    bitsandbytes' `quantize_blockwise` with the default signed dynamic map:
    per block an f32 absmax, then each `x · (1/absmax)` goes to the nearest of
    the 256 map values, a tie to the even index. Used for double
    quantization of the 4-bit absmax (blocks of 256).

    Example:

    ```mlir
    %q, %a = bnb.quantize_blockwise %x {blocksize = 256 : i64}
               : tensor<512xf32> -> tensor<512xui8>, tensor<2xf32>
    ```
  }];
  let arguments = (ins Bnb_FloatTensor:$input,
                       DefaultValuedAttr<I64Attr, "256">:$blocksize);
  let results = (outs Bnb_U8Tensor:$result, Bnb_F32Tensor:$absmax);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($result) `,` type($absmax)
  }];
  let hasVerifier = 1;
}

def Bnb_DequantizeBlockwiseOp : Bnb_Op<"dequantize_blockwise", [Pure]> {
  let summary = "8-bit blockwise dequantization with the signed dynamic map";
  let description = [{
    `result[e] = T(f32(map[q[e]] · absmax[e / blocksize]))`.

    Example:

    ```mlir
    %x = bnb.dequantize_blockwise %q, %a {blocksize = 256 : i64}
           : tensor<512xui8>, tensor<2xf32> -> tensor<512xf32>
    ```
  }];
  let arguments = (ins Bnb_U8Tensor:$input, Bnb_F32Tensor:$absmax,
                       DefaultValuedAttr<I64Attr, "256">:$blocksize);
  let results = (outs Bnb_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $absmax attr-dict `:` type($input) `,` type($absmax)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // BNB_DIALECT_BNB_IR_BNBOPS_TD
