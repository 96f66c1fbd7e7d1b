// Every bnb-quantize-weights error names the file and tensor at fault.
// RUN: rm -rf %t && split-file %s %t
// RUN: %python %S/Inputs/weights.py make %t/model.safetensors
// RUN: bnb-opt %t/no-file.mlir -bnb-quantize-weights -verify-diagnostics
// RUN: bnb-opt %t/missing.mlir -bnb-quantize-weights="weights=%t/nonexistent.safetensors" -verify-diagnostics
// RUN: bnb-opt %t/no-tensor.mlir -bnb-quantize-weights="weights=%t/model.safetensors output=%t/o1.safetensors" -verify-diagnostics
// RUN: bnb-opt %t/mismatch.mlir -bnb-quantize-weights="weights=%t/model.safetensors output=%t/o2.safetensors" -verify-diagnostics
// RUN: bnb-opt %t/same.mlir -bnb-quantize-weights="weights=%t/model.safetensors output=%t/model.safetensors" -verify-diagnostics
// RUN: bnb-opt %t/argument.mlir -bnb-quantize-weights -verify-diagnostics
// RUN: bnb-opt %t/huge-inline.mlir -bnb-quantize-weights -verify-diagnostics
// RUN: not ls %t/o1.safetensors %t/o2.safetensors

//--- no-file.mlir
// expected-error @below {{the module has external weights but no 'bnb.weights' attribute and no weights= option}}
module {
  ml_program.global private @"l.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
}

//--- missing.mlir
// expected-error-re @below {{{{.+}}nonexistent.safetensors{{.+}}}}
module {
  ml_program.global private @"l.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
}

//--- no-tensor.mlir
module {
  // expected-error-re @below {{'ml_program.global' op weights file '{{.+}}model.safetensors' has no tensor 'l.weight'}}
  ml_program.global private @"l.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
  func.func @f(%x: tensor<2x16xf16>) -> tensor<2x32xf16> {
    %w = ml_program.global_load_const @"l.weight" : tensor<32x16xf16>
    %y = bnb.linear_int8 %x, %w {module = "l"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
    return %y : tensor<2x32xf16>
  }
}

//--- mismatch.mlir
module {
  // expected-error-re @below {{'ml_program.global' op tensor 'model.layers.0.mlp.up_proj.weight' in '{{.+}}model.safetensors' is F16 [32, 16] but the global is 'tensor<16x32xf16>'}}
  ml_program.global private @"model.layers.0.mlp.up_proj.weight"(#ml_program.extern : tensor<16x32xf16>) : tensor<16x32xf16>
  func.func @f(%x: tensor<2x32xf16>) -> tensor<2x16xf16> {
    %w = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight" : tensor<16x32xf16>
    %y = bnb.linear_int8 %x, %w {module = "model.layers.0.mlp.up_proj"} : tensor<2x32xf16>, tensor<16x32xf16> -> tensor<2x16xf16>
    return %y : tensor<2x16xf16>
  }
}

//--- argument.mlir
module {
  func.func @f(%x: tensor<2x16xf16>, %w: tensor<32x16xf16> {bnb.weight = "l.weight"}) -> tensor<2x32xf16> {
    // expected-error @below {{'bnb.linear_int8' op weight 'l.weight' is already an entry-point argument; run bnb-quantize-weights before bnb-externalize-weights}}
    %y = bnb.linear_int8 %x, %w {module = "l"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
    return %y : tensor<2x32xf16>
  }
}

//--- same.mlir
// expected-error-re @below {{bnb-quantize-weights would overwrite its input '{{.+}}model.safetensors'}}
module {
  ml_program.global private @"model.layers.0.mlp.up_proj.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
  func.func @f(%x: tensor<2x16xf16>) -> tensor<2x32xf16> {
    %w = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight" : tensor<32x16xf16>
    %y = bnb.linear_int8 %x, %w {module = "model.layers.0.mlp.up_proj"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
    return %y : tensor<2x32xf16>
  }
}

//--- huge-inline.mlir
// A splat is a few bytes of IR for any shape: the inline weight is refused
// before its 2 TiB are allocated.
module {
  func.func @f(%x: tensor<2x1048576xf16>) -> tensor<2x1048576xf16> {
    %w = arith.constant {bnb.name = "l.weight"} dense<0.0> : tensor<1048576x1048576xf16>
    // expected-error @below {{inline weight constant 'tensor<1048576x1048576xf16>' exceeds the 1073741824-byte limit for inline weights; keep large weights in the bnb.weights file}}
    %y = bnb.linear_int8 %x, %w {module = "l"} : tensor<2x1048576xf16>, tensor<1048576x1048576xf16> -> tensor<2x1048576xf16>
    return %y : tensor<2x1048576xf16>
  }
}
