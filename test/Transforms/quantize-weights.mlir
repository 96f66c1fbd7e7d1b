// bnb-quantize-weights streams the weights file into a new one in
// bitsandbytes' layout and points the globals at it; the input is untouched.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/Inputs/weights.py make %t/model.safetensors
// RUN: %python %S/Inputs/weights.py digest %t/model.safetensors > %t/before
// RUN: bnb-opt %s -bnb-replace-linear -bnb-quantize-weights="weights=%t/model.safetensors output=%t/out.safetensors" | FileCheck %s
// RUN: %python %S/Inputs/weights.py digest %t/model.safetensors | diff - %t/before
// RUN: %python %S/Inputs/weights.py check %t/model.safetensors %t/out.safetensors | FileCheck %s --check-prefix=FILE
// RUN: bnb-opt %s -bnb-quantize="bnb-4bit-quant-type=fp4 weights=%t/model.safetensors output=%t/pipeline.safetensors" | FileCheck %s --check-prefix=PIPE

// FILE: ok

// CHECK: module attributes {bnb.config = {{.+}}, bnb.weights = "{{.+}}out.safetensors"}
// CHECK-DAG: ml_program.global private @model.layers.0.mlp.up_proj.weight(#{{.+}}) : tensor<256x1xui8>
// CHECK-DAG: ml_program.global private @model.layers.0.mlp.up_proj.weight.absmax(#{{.+}}) : tensor<8xui8>
// CHECK-DAG: ml_program.global private @model.layers.0.mlp.up_proj.weight.nested_absmax(#{{.+}}) : tensor<1xf32>
// CHECK-DAG: ml_program.global private @h.0.attn.c_attn.weight(#{{.+}}) : tensor<384x1xui8>
// CHECK-DAG: ml_program.global private @lm_head.weight(#{{.+}}) : tensor<64x16xf16>
// CHECK-LABEL: func.func @forward
// CHECK: %[[W:.+]] = ml_program.global_load_const @model.layers.0.mlp.up_proj.weight : tensor<256x1xui8>
// CHECK: %[[A:.+]] = ml_program.global_load_const @model.layers.0.mlp.up_proj.weight.absmax : tensor<8xui8>
// CHECK: %[[N:.+]] = ml_program.global_load_const @model.layers.0.mlp.up_proj.weight.nested_absmax : tensor<1xf32>
// CHECK: bnb.linear_4bit %{{.+}}, %[[W]] absmax(%[[A]] : tensor<8xui8>) nested(%[[N]] : tensor<1xf32>) bias(%{{.+}} : tensor<32xf16>)
// CHECK-SAME: nested_offset = {{.+}} : f32
// The Conv1D layer lost its conv1d flag: its weight is stored [out, in] now.
// CHECK: bnb.linear_4bit %{{.+}} {compute_dtype = f32, module = "h.0.attn.c_attn", nested_offset
// CHECK: linalg.matmul

// PIPE: bnb.weights = "{{.+}}pipeline.safetensors"
// Options override the module config field by field: fp4 here, double
// quantization still from the module.
// PIPE: bnb.linear_4bit {{.+}} nested({{.+}} {compute_dtype = f32, module = "model.layers.0.mlp.up_proj", nested_offset = {{.+}}, quant_type = #bnb.quant_type<fp4>

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
module attributes {bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_quant_type = "nf4", bnb_4bit_use_double_quant = true>} {
  ml_program.global private @"model.layers.0.mlp.up_proj.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
  ml_program.global private @"model.layers.0.mlp.up_proj.bias"(#ml_program.extern : tensor<32xf16>) : tensor<32xf16>
  ml_program.global private @"model.layers.0.mlp.down_proj.weight"(#ml_program.extern : tensor<16x32xf16>) : tensor<16x32xf16>
  ml_program.global private @"h.0.attn.c_attn.weight"(#ml_program.extern : tensor<16x48xf16>) : tensor<16x48xf16>
  ml_program.global private @"lm_head.weight"(#ml_program.extern : tensor<64x16xf16>) : tensor<64x16xf16>
  func.func @forward(%x: tensor<2x16xf16>) -> (tensor<2x64xf16>, tensor<2x48xf16>) {
    %zero = arith.constant 0.0 : f16
    %w = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight" : tensor<32x16xf16>
    %b = ml_program.global_load_const @"model.layers.0.mlp.up_proj.bias" : tensor<32xf16>
    %e = tensor.empty() : tensor<2x32xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x32xf16>) -> tensor<2x32xf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w : tensor<2x16xf16>, tensor<32x16xf16>) outs(%f : tensor<2x32xf16>) -> tensor<2x32xf16>
    %yb = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y, %b : tensor<2x32xf16>, tensor<32xf16>) outs(%e : tensor<2x32xf16>) {
    ^bb0(%a: f16, %c: f16, %o: f16):
      %s = arith.addf %a, %c : f16
      linalg.yield %s : f16
    } -> tensor<2x32xf16>
    %w2 = ml_program.global_load_const @"model.layers.0.mlp.down_proj.weight" : tensor<16x32xf16>
    %e2 = tensor.empty() : tensor<2x16xf16>
    %f2 = linalg.fill ins(%zero : f16) outs(%e2 : tensor<2x16xf16>) -> tensor<2x16xf16>
    %d = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%yb, %w2 : tensor<2x32xf16>, tensor<16x32xf16>) outs(%f2 : tensor<2x16xf16>) -> tensor<2x16xf16>
    %wc = ml_program.global_load_const @"h.0.attn.c_attn.weight" : tensor<16x48xf16>
    %e3 = tensor.empty() : tensor<2x48xf16>
    %f3 = linalg.fill ins(%zero : f16) outs(%e3 : tensor<2x48xf16>) -> tensor<2x48xf16>
    %c = linalg.matmul ins(%d, %wc : tensor<2x16xf16>, tensor<16x48xf16>) outs(%f3 : tensor<2x48xf16>) -> tensor<2x48xf16>
    %cc = arith.addf %c, %c : tensor<2x48xf16>
    %wl = ml_program.global_load_const @"lm_head.weight" : tensor<64x16xf16>
    %e4 = tensor.empty() : tensor<2x64xf16>
    %f4 = linalg.fill ins(%zero : f16) outs(%e4 : tensor<2x64xf16>) -> tensor<2x64xf16>
    %l = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%d, %wl : tensor<2x16xf16>, tensor<64x16xf16>) outs(%f4 : tensor<2x64xf16>) -> tensor<2x64xf16>
    return %l, %cc : tensor<2x64xf16>, tensor<2x48xf16>
  }
}
