//===- BnbAttrs.td - bnb attributes ------------------------*- tablegen -*-===//

#ifndef BNB_DIALECT_BNB_IR_BNBATTRS_TD
#define BNB_DIALECT_BNB_IR_BNBATTRS_TD

include "bnb/Dialect/Bnb/IR/BnbDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Bnb_QuantTypeNF4 : I32EnumAttrCase<"nf4", 0>;
def Bnb_QuantTypeFP4 : I32EnumAttrCase<"fp4", 1>;
def Bnb_QuantType : I32EnumAttr<"QuantType", "4-bit code book",
                                [Bnb_QuantTypeNF4, Bnb_QuantTypeFP4]> {
  let cppNamespace = "::mlir::bnb";
  let genSpecializedAttr = 0;
}

def Bnb_QuantTypeAttr : EnumAttr<Bnb_Dialect, Bnb_QuantType, "quant_type"> {
  let summary = "4-bit code book: NF4 (normal float) or FP4";
  let assemblyFormat = "`<` $value `>`";
}

def Bnb_ConfigAttr : AttrDef<Bnb_Dialect, "Config"> {
  let mnemonic = "config";
  let summary = "a transformers BitsAndBytesConfig";
  let description = [{
    Mirrors every field of transformers' `BitsAndBytesConfig`, with the same
    names and defaults. Fields equal to their default may be omitted and are
    not printed.

    | field | default |
    |---|---|
    | `load_in_8bit` | `false` |
    | `load_in_4bit` | `false` |
    | `llm_int8_threshold` | `6.0` |
    | `llm_int8_skip_modules` | none (the automatic lm_head/tied-weight list) |
    | `llm_int8_enable_fp32_cpu_offload` | `false` |
    | `llm_int8_has_fp16_weight` | `false` |
    | `bnb_4bit_compute_dtype` | `f32` |
    | `bnb_4bit_quant_type` | `"fp4"` |
    | `bnb_4bit_use_double_quant` | `false` |
    | `bnb_4bit_quant_storage` | `ui8` |

    Example:

    ```mlir
    module attributes {bnb.config = #bnb.config<load_in_4bit = true,
        bnb_4bit_quant_type = "nf4", bnb_4bit_compute_dtype = bf16,
        bnb_4bit_use_double_quant = true>} {}
    ```

    As in transformers, a user `llm_int8_skip_modules` list replaces the
    automatic skip list instead of extending it.
  }];
  let parameters = (ins
    "bool":$loadIn8bit,
    "bool":$loadIn4bit,
    "::llvm::APFloat":$llmInt8Threshold,
    OptionalParameter<"::mlir::ArrayAttr">:$llmInt8SkipModules,
    "bool":$llmInt8EnableFp32CpuOffload,
    "bool":$llmInt8HasFp16Weight,
    "::mlir::Type":$bnb4bitComputeDtype,
    "::mlir::bnb::QuantType":$bnb4bitQuantType,
    "bool":$bnb4bitUseDoubleQuant,
    "::mlir::Type":$bnb4bitQuantStorage
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Returns a config with every field at its transformers default.
    static ConfigAttr getDefault(::mlir::MLIRContext *context);
    /// The name of the module attribute that carries a config.
    static constexpr ::llvm::StringLiteral getModuleAttrName() {
      return "bnb.config";
    }
    /// The threshold as a double.
    double getThreshold() const {
      return getLlmInt8Threshold().convertToDouble();
    }
  }];
}

#endif // BNB_DIALECT_BNB_IR_BNBATTRS_TD
