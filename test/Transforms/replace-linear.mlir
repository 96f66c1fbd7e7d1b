// RUN: bnb-opt %s -split-input-file -bnb-replace-linear | FileCheck %s
// RUN: bnb-opt %s -split-input-file -bnb-replace-linear="load-in-8bit=false load-in-4bit=true bnb-4bit-quant-type=nf4 blocksize=128" | FileCheck %s --check-prefix=OPT

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>

// An nn.Linear with bias becomes one bnb.linear_int8 on the float weight.
// CHECK-LABEL: module attributes
// CHECK-SAME: bnb.config = #bnb.config<load_in_8bit = true>
// CHECK-LABEL: func @nn_linear_bias
// CHECK-DAG: %[[W:.+]] = ml_program.global_load_const @model.layers.0.mlp.up_proj.weight
// CHECK-DAG: %[[B:.+]] = ml_program.global_load_const @model.layers.0.mlp.up_proj.bias
// CHECK: %[[Y:.+]] = bnb.linear_int8 %{{.+}}, %[[W]] bias(%[[B]] : tensor<32xf16>) {module = "model.layers.0.mlp.up_proj"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: linalg.generic
// CHECK: %[[R:.+]] = arith.addf %[[Y]], %[[Y]]
// CHECK: return %[[R]]
// OPT-LABEL: func @nn_linear_bias
// OPT: bnb.linear_4bit %{{.+}}, %{{.+}} bias(%{{.+}} : tensor<32xf16>) {blocksize = 128 : i64, compute_dtype = f32, module = "model.layers.0.mlp.up_proj", quant_type = #bnb.quant_type<nf4>, shape = array<i64: 32, 16>}
module attributes {bnb.config = #bnb.config<load_in_8bit = true>} {
  ml_program.global private @"model.layers.0.mlp.up_proj.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
  ml_program.global private @"model.layers.0.mlp.up_proj.bias"(#ml_program.extern : tensor<32xf16>) : tensor<32xf16>
  func.func @nn_linear_bias(%x: tensor<2x16xf16>) -> tensor<2x32xf16> {
    %zero = arith.constant 0.0 : f16
    %w = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight" : tensor<32x16xf16>
    %b = ml_program.global_load_const @"model.layers.0.mlp.up_proj.bias" : tensor<32xf16>
    %e = tensor.empty() : tensor<2x32xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x32xf16>) -> tensor<2x32xf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%x, %w : tensor<2x16xf16>, tensor<32x16xf16>) outs(%f : tensor<2x32xf16>) -> tensor<2x32xf16>
    %yb = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y, %b : tensor<2x32xf16>, tensor<32xf16>) outs(%e : tensor<2x32xf16>) {
    ^bb0(%a: f16, %c: f16, %o: f16):
      %s = arith.addf %c, %a : f16
      linalg.yield %s : f16
    } -> tensor<2x32xf16>
    %r = arith.addf %yb, %yb : tensor<2x32xf16>
    return %r : tensor<2x32xf16>
  }
}

// -----

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
// 4-bit from the module config: quant type, compute dtype, storage.
// CHECK-LABEL: func @four_bit_config
// CHECK: bnb.linear_4bit %{{.+}}, %{{.+}} {compute_dtype = bf16, module = "q_proj", quant_storage = bf16, quant_type = #bnb.quant_type<nf4>, shape = array<i64: 48, 16>} : tensor<4x16xbf16>, tensor<48x16xbf16> -> tensor<4x48xbf16>
// OPT-LABEL: func @four_bit_config
// OPT: bnb.linear_4bit {{.+}} {blocksize = 128 : i64, compute_dtype = bf16, module = "q_proj", quant_storage = bf16, quant_type = #bnb.quant_type<nf4>
module attributes {bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_quant_type = "nf4", bnb_4bit_compute_dtype = bf16, bnb_4bit_quant_storage = bf16>} {
  ml_program.global private @"q_proj.weight"(#ml_program.extern : tensor<48x16xbf16>) : tensor<48x16xbf16>
  func.func @four_bit_config(%x: tensor<4x16xbf16>) -> tensor<4x48xbf16> {
    %zero = arith.constant 0.0 : bf16
    %w = ml_program.global_load_const @"q_proj.weight" : tensor<48x16xbf16>
    %e = tensor.empty() : tensor<4x48xbf16>
    %f = linalg.fill ins(%zero : bf16) outs(%e : tensor<4x48xbf16>) -> tensor<4x48xbf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%x, %w : tensor<4x16xbf16>, tensor<48x16xbf16>) outs(%f : tensor<4x48xbf16>) -> tensor<4x48xbf16>
    %r = arith.addf %y, %y : tensor<4x48xbf16>
    return %r : tensor<4x48xbf16>
  }
}

// -----

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
// GPT-2 Conv1D: x·W with the weight stored [in, out]; and the explicit
// linalg.transpose form of nn.Linear.
// CHECK-LABEL: func @conv1d_and_transpose
// CHECK: %[[C:.+]] = ml_program.global_load_const @h.0.attn.c_attn.weight : tensor<16x48xf32>
// CHECK: bnb.linear_int8 %{{.+}}, %[[C]] {conv1d, module = "h.0.attn.c_attn"} : tensor<2x16xf32>, tensor<16x48xf32> -> tensor<2x48xf32>
// CHECK: %[[T:.+]] = ml_program.global_load_const @h.0.mlp.c_fc.weight : tensor<48x48xf32>
// CHECK-NOT: linalg.transpose
// CHECK: bnb.linear_int8 %{{.+}}, %[[T]] {module = "h.0.mlp.c_fc"} : tensor<2x48xf32>, tensor<48x48xf32> -> tensor<2x48xf32>
module attributes {bnb.config = #bnb.config<load_in_8bit = true>} {
  ml_program.global private @"h.0.attn.c_attn.weight"(#ml_program.extern : tensor<16x48xf32>) : tensor<16x48xf32>
  ml_program.global private @"h.0.mlp.c_fc.weight"(#ml_program.extern : tensor<48x48xf32>) : tensor<48x48xf32>
  func.func @conv1d_and_transpose(%x: tensor<2x16xf32>) -> tensor<2x48xf32> {
    %zero = arith.constant 0.0 : f32
    %w = ml_program.global_load_const @"h.0.attn.c_attn.weight" : tensor<16x48xf32>
    %e = tensor.empty() : tensor<2x48xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x48xf32>) -> tensor<2x48xf32>
    %y = linalg.matmul ins(%x, %w : tensor<2x16xf32>, tensor<16x48xf32>) outs(%f : tensor<2x48xf32>) -> tensor<2x48xf32>
    %w2 = ml_program.global_load_const @"h.0.mlp.c_fc.weight" : tensor<48x48xf32>
    %et = tensor.empty() : tensor<48x48xf32>
    %wt = linalg.transpose ins(%w2 : tensor<48x48xf32>) outs(%et : tensor<48x48xf32>) permutation = [1, 0]
    %y2 = linalg.matmul ins(%y, %wt : tensor<2x48xf32>, tensor<48x48xf32>) outs(%f : tensor<2x48xf32>) -> tensor<2x48xf32>
    %r = arith.addf %y2, %y2 : tensor<2x48xf32>
    return %r : tensor<2x48xf32>
  }
}

// -----

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
// Default skip list: lm_head, the output embedding and tied weights stay in
// 16 bits; attention-score matmuls of two activations are never touched.
// CHECK-LABEL: func @default_skips
// CHECK: linalg.matmul {{.+}}ins(%{{.+}}, %{{.+}} : tensor<2x16xf16>, tensor<2x16xf16>)
// CHECK: bnb.linear_int8 {{.+}}module = "model.layers.0.self_attn.q_proj"
// CHECK: %[[TW:.+]] = ml_program.global_load_const @tied_proj.weight
// CHECK-NEXT: linalg.matmul {{.+}}ins(%{{.+}}, %[[TW]] : tensor<2x16xf16>, tensor<16x16xf16>)
// CHECK-NOT: bnb.linear_int8
// CHECK: return
module attributes {bnb.config = #bnb.config<load_in_8bit = true>} {
  ml_program.global private @"model.layers.0.self_attn.q_proj.weight"(#ml_program.extern : tensor<16x16xf16>) : tensor<16x16xf16>
  ml_program.global private @"tied_proj.weight"(#ml_program.extern : tensor<16x16xf16>) : tensor<16x16xf16>
  ml_program.global private @"lm_head.weight"(#ml_program.extern : tensor<64x16xf16>) : tensor<64x16xf16>
  ml_program.global private @"out_proj.weight"(#ml_program.extern : tensor<8x64xf16>) : tensor<8x64xf16>
  func.func @default_skips(%x: tensor<2x16xf16>, %k: tensor<2x16xf16>) -> (tensor<2x8xf16>, tensor<2x16xf16>) {
    %zero = arith.constant 0.0 : f16
    %e = tensor.empty() : tensor<2x16xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x16xf16>) -> tensor<2x16xf16>
    %es = tensor.empty() : tensor<2x2xf16>
    %fs = linalg.fill ins(%zero : f16) outs(%es : tensor<2x2xf16>) -> tensor<2x2xf16>
    %scores = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%x, %k : tensor<2x16xf16>, tensor<2x16xf16>) outs(%fs : tensor<2x2xf16>) -> tensor<2x2xf16>
    %wq = ml_program.global_load_const @"model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf16>
    %q = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%x, %wq : tensor<2x16xf16>, tensor<16x16xf16>) outs(%f : tensor<2x16xf16>) -> tensor<2x16xf16>
    %wt = ml_program.global_load_const @"tied_proj.weight" : tensor<16x16xf16>
    %t = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%q, %wt : tensor<2x16xf16>, tensor<16x16xf16>) outs(%f : tensor<2x16xf16>) -> tensor<2x16xf16>
    %wt2 = ml_program.global_load_const @"tied_proj.weight" : tensor<16x16xf16>
    %g = tensor.extract_slice %wt2[0, 0] [2, 16] [1, 1] : tensor<16x16xf16> to tensor<2x16xf16>
    %t2 = arith.addf %t, %g : tensor<2x16xf16>
    %wl = ml_program.global_load_const @"lm_head.weight" : tensor<64x16xf16>
    %el = tensor.empty() : tensor<2x64xf16>
    %fl = linalg.fill ins(%zero : f16) outs(%el : tensor<2x64xf16>) -> tensor<2x64xf16>
    %l = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%t2, %wl : tensor<2x16xf16>, tensor<64x16xf16>) outs(%fl : tensor<2x64xf16>) -> tensor<2x64xf16>
    %wo = ml_program.global_load_const @"out_proj.weight" : tensor<8x64xf16>
    %eo = tensor.empty() : tensor<2x8xf16>
    %fo = linalg.fill ins(%zero : f16) outs(%eo : tensor<2x8xf16>) -> tensor<2x8xf16>
    %o = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%l, %wo : tensor<2x64xf16>, tensor<8x64xf16>) outs(%fo : tensor<2x8xf16>) -> tensor<2x8xf16>
    %ss = arith.addf %scores, %scores : tensor<2x2xf16>
    return %o, %t2 : tensor<2x8xf16>, tensor<2x16xf16>
  }
}

// -----

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
// A user list replaces the automatic one: lm_head is quantized, q_proj is
// skipped by suffix, "model.layers.1" skips layers 1 and 10 by prefix.
// CHECK-LABEL: func @user_skip_list
// CHECK: linalg.matmul
// CHECK-SAME: tensor<16x16xf16>
// CHECK: linalg.matmul
// CHECK-SAME: tensor<16x16xf16>
// CHECK: linalg.matmul
// CHECK-SAME: tensor<16x16xf16>
// CHECK: bnb.linear_int8 {{.+}}module = "model.layers.2.mlp.down_proj"
// CHECK: bnb.linear_int8 {{.+}}module = "lm_head"
module attributes {bnb.config = #bnb.config<load_in_8bit = true, llm_int8_skip_modules = ["q_proj", "model.layers.1"]>} {
  ml_program.global private @"model.layers.0.self_attn.q_proj.weight"(#ml_program.extern : tensor<16x16xf16>) : tensor<16x16xf16>
  ml_program.global private @"model.layers.1.mlp.down_proj.weight"(#ml_program.extern : tensor<16x16xf16>) : tensor<16x16xf16>
  ml_program.global private @"model.layers.10.mlp.down_proj.weight"(#ml_program.extern : tensor<16x16xf16>) : tensor<16x16xf16>
  ml_program.global private @"model.layers.2.mlp.down_proj.weight"(#ml_program.extern : tensor<16x16xf16>) : tensor<16x16xf16>
  ml_program.global private @"lm_head.weight"(#ml_program.extern : tensor<16x16xf16>) : tensor<16x16xf16>
  func.func @user_skip_list(%x: tensor<2x16xf16>) -> tensor<2x16xf16> {
    %zero = arith.constant 0.0 : f16
    %e = tensor.empty() : tensor<2x16xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x16xf16>) -> tensor<2x16xf16>
    %w0 = ml_program.global_load_const @"model.layers.0.self_attn.q_proj.weight" : tensor<16x16xf16>
    %y0 = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w0 : tensor<2x16xf16>, tensor<16x16xf16>) outs(%f : tensor<2x16xf16>) -> tensor<2x16xf16>
    %w1 = ml_program.global_load_const @"model.layers.1.mlp.down_proj.weight" : tensor<16x16xf16>
    %y1 = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%y0, %w1 : tensor<2x16xf16>, tensor<16x16xf16>) outs(%f : tensor<2x16xf16>) -> tensor<2x16xf16>
    %w10 = ml_program.global_load_const @"model.layers.10.mlp.down_proj.weight" : tensor<16x16xf16>
    %y10 = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%y1, %w10 : tensor<2x16xf16>, tensor<16x16xf16>) outs(%f : tensor<2x16xf16>) -> tensor<2x16xf16>
    %w2 = ml_program.global_load_const @"model.layers.2.mlp.down_proj.weight" : tensor<16x16xf16>
    %y2 = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%y10, %w2 : tensor<2x16xf16>, tensor<16x16xf16>) outs(%f : tensor<2x16xf16>) -> tensor<2x16xf16>
    %wl = ml_program.global_load_const @"lm_head.weight" : tensor<16x16xf16>
    %l = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%y2, %wl : tensor<2x16xf16>, tensor<16x16xf16>) outs(%f : tensor<2x16xf16>) -> tensor<2x16xf16>
    return %l : tensor<2x16xf16>
  }
}

// -----

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
// Inline constant weights (test graphs) are linears too; a matmul into a
// non-zero accumulator is not a linear and stays.
// CHECK-LABEL: func @inline_and_accumulating
// CHECK: %[[W:.+]] = arith.constant {bnb.name = "fc.weight"} dense<1.000000e+00> : tensor<8x4xf32>
// CHECK: bnb.linear_int8 %{{.+}}, %[[W]] {module = "fc"}
// CHECK: linalg.matmul
module attributes {bnb.config = #bnb.config<load_in_8bit = true>} {
  func.func @inline_and_accumulating(%x: tensor<2x4xf32>, %acc: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
    %zero = arith.constant 0.0 : f32
    %w = arith.constant {bnb.name = "fc.weight"} dense<1.0> : tensor<8x4xf32>
    %e = tensor.empty() : tensor<2x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w : tensor<2x4xf32>, tensor<8x4xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
    %w2 = arith.constant {bnb.name = "acc.weight"} dense<2.0> : tensor<8x4xf32>
    %z = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w2 : tensor<2x4xf32>, tensor<8x4xf32>) outs(%acc : tensor<2x8xf32>) -> tensor<2x8xf32>
    %r = arith.addf %y, %y : tensor<2x8xf32>
    return %r, %z : tensor<2x8xf32>, tensor<2x8xf32>
  }
}
