// RUN: bnb-opt %s -bnb-memory-report -o /dev/null | FileCheck %s
// RUN: bnb-opt %s -bnb-memory-report=json=true -o /dev/null | FileCheck %s --check-prefix=JSON
// RUN: not bnb-opt %s -bnb-memory-report="output=%t/missing-dir/report.txt" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ERR

// Sizes by hand (bnb-numerics.md §7):
//  nf4+dq 64x64: packed (4096+1)/2 = 2048; absmax 64 codes + 64 B quant_map
//    = 128; nested ceil(64/256)·4 + 1024 B nested_quant_map = 1028.
//  int8 32x64: weight 2048; SCB 32·4 + 1 (weight_format) = 129; bias 64 (f16).
//  lm_head (skipped) 100x32 f16: 6400.
//  embed_tokens 100x64 f16: 12800 (other weights).
// CHECK: module kind shape weight absmax nested bias total
// CHECK-NEXT: model.layers.0.mlp.up_proj nf4+dq 64x64 2048 128 1028 0 3204
// CHECK-NEXT: model.layers.0.mlp.down_proj * int8 32x64 2048 129 0 64 2241
// CHECK-NEXT: lm_head 16-bit (skipped) 100x32 6400 0 0 0 6400
// CHECK: quantized weights (packed) 4096
// CHECK-NEXT: absmax / SCB / quant maps 257
// CHECK-NEXT: nested state 1028
// CHECK-NEXT: skipped 16-bit layers 6400
// CHECK-NEXT: biases 64
// CHECK-NEXT: other weights 12800
// CHECK-NEXT: footprint (get_memory_footprint) 23360
// CHECK-NEXT: total incl. quantization state 24645
// CHECK-NEXT: 16-bit model 31552
// CHECK-NEXT: * not quantized yet

// JSON: "totals": {
// JSON-DAG: "footprint": 23360
// JSON-DAG: "total": 24645
// JSON-DAG: "nested_state": 1028

// ERR: error: cannot write the memory report

module attributes {bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_use_double_quant = true>} {
  ml_program.global private @"model.embed_tokens.weight"(#ml_program.extern : tensor<100x64xf16>) : tensor<100x64xf16>
  ml_program.global private @"model.layers.0.mlp.up_proj.weight"(#ml_program.extern : tensor<2048x1xui8>) : tensor<2048x1xui8>
  ml_program.global private @"model.layers.0.mlp.up_proj.weight.absmax"(#ml_program.extern : tensor<64xui8>) : tensor<64xui8>
  ml_program.global private @"model.layers.0.mlp.up_proj.weight.nested_absmax"(#ml_program.extern : tensor<1xf32>) : tensor<1xf32>
  ml_program.global private @"model.layers.0.mlp.down_proj.weight"(#ml_program.extern : tensor<32x64xf16>) : tensor<32x64xf16>
  ml_program.global private @"model.layers.0.mlp.down_proj.bias"(#ml_program.extern : tensor<32xf16>) : tensor<32xf16>
  ml_program.global private @"lm_head.weight"(#ml_program.extern : tensor<100x32xf16>) : tensor<100x32xf16>
  func.func @forward(%x: tensor<2x64xf16>) -> tensor<2x100xf16> {
    %e = ml_program.global_load_const @"model.embed_tokens.weight" : tensor<100x64xf16>
    %w = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight" : tensor<2048x1xui8>
    %a = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight.absmax" : tensor<64xui8>
    %n = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight.nested_absmax" : tensor<1xf32>
    %h = bnb.linear_4bit %x, %w absmax(%a : tensor<64xui8>) nested(%n : tensor<1xf32>) {module = "model.layers.0.mlp.up_proj", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 64, 64>, nested_offset = 1.0 : f32} : tensor<2x64xf16>, tensor<2048x1xui8> -> tensor<2x64xf16>
    %s = tensor.extract_slice %e[0, 0] [2, 64] [1, 1] : tensor<100x64xf16> to tensor<2x64xf16>
    %hs = arith.addf %h, %s : tensor<2x64xf16>
    %w2 = ml_program.global_load_const @"model.layers.0.mlp.down_proj.weight" : tensor<32x64xf16>
    %b2 = ml_program.global_load_const @"model.layers.0.mlp.down_proj.bias" : tensor<32xf16>
    %d = bnb.linear_int8 %hs, %w2 bias(%b2 : tensor<32xf16>) {module = "model.layers.0.mlp.down_proj"} : tensor<2x64xf16>, tensor<32x64xf16> -> tensor<2x32xf16>
    %zero = arith.constant 0.0 : f16
    %wl = ml_program.global_load_const @"lm_head.weight" : tensor<100x32xf16>
    %el = tensor.empty() : tensor<2x100xf16>
    %fl = linalg.fill ins(%zero : f16) outs(%el : tensor<2x100xf16>) -> tensor<2x100xf16>
    %l = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
           ins(%d, %wl : tensor<2x32xf16>, tensor<100x32xf16>) outs(%fl : tensor<2x100xf16>) -> tensor<2x100xf16>
    %r = arith.addf %l, %l : tensor<2x100xf16>
    return %r : tensor<2x100xf16>
  }
}
