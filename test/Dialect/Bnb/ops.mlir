// RUN: bnb-opt %s | bnb-opt | FileCheck %s
// RUN: bnb-opt %s -mlir-print-op-generic | bnb-opt | FileCheck %s

// CHECK: module attributes {bnb.config = #bnb.config<load_in_4bit = true, llm_int8_skip_modules = ["lm_head", "q_proj"], bnb_4bit_compute_dtype = bf16, bnb_4bit_quant_type = "nf4", bnb_4bit_use_double_quant = true>}
module attributes {bnb.config = #bnb.config<bnb_4bit_use_double_quant = true, load_in_4bit = true, bnb_4bit_quant_type = "nf4", bnb_4bit_compute_dtype = "bfloat16", llm_int8_skip_modules = ["lm_head", "q_proj"], llm_int8_threshold = 6.0, bnb_4bit_quant_storage = "uint8">} {

// CHECK-LABEL: func @linear_int8_quantized
// CHECK-SAME: (%[[X:.+]]: tensor<2x16xf16>, %[[W:.+]]: tensor<32x16xi8>, %[[S:.+]]: tensor<32xf32>, %[[B:.+]]: tensor<32xf16>)
// CHECK: bnb.linear_int8 %[[X]], %[[W]] scb(%[[S]] : tensor<32xf32>) bias(%[[B]] : tensor<32xf16>) {module = "l0", threshold = 4.000000e+00 : f32} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
func.func @linear_int8_quantized(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>, %b: tensor<32xf16>) -> tensor<2x32xf16> {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) bias(%b : tensor<32xf16>) {module = "l0", threshold = 4.0 : f32} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// CHECK-LABEL: func @linear_int8_fp16_weight
// CHECK: bnb.linear_int8 %{{.+}}, %{{.+}} {has_fp16_weight, module = "l1"} : tensor<3x2x16xbf16>, tensor<32x16xbf16> -> tensor<3x2x32xbf16>
func.func @linear_int8_fp16_weight(%x: tensor<3x2x16xbf16>, %w: tensor<32x16xbf16>) -> tensor<3x2x32xbf16> {
  %y = bnb.linear_int8 %x, %w {module = "l1", has_fp16_weight, threshold = 6.0 : f32} : tensor<3x2x16xbf16>, tensor<32x16xbf16> -> tensor<3x2x32xbf16>
  return %y : tensor<3x2x32xbf16>
}

// CHECK-LABEL: func @linear_int8_conv1d
// CHECK: bnb.linear_int8 %{{.+}}, %{{.+}} {conv1d, module = "h.0.attn.c_attn"} : tensor<2x16xf32>, tensor<16x48xf32> -> tensor<2x48xf32>
func.func @linear_int8_conv1d(%x: tensor<2x16xf32>, %w: tensor<16x48xf32>) -> tensor<2x48xf32> {
  %y = bnb.linear_int8 %x, %w {module = "h.0.attn.c_attn", conv1d} : tensor<2x16xf32>, tensor<16x48xf32> -> tensor<2x48xf32>
  return %y : tensor<2x48xf32>
}

// CHECK-LABEL: func @linear_4bit_nested
// CHECK: bnb.linear_4bit %{{.+}}, %{{.+}} absmax(%{{.+}} : tensor<8xui8>) nested(%{{.+}} : tensor<1xf32>) bias(%{{.+}} : tensor<32xbf16>)
// CHECK-SAME: compute_dtype = bf16
// CHECK-SAME: nested_offset = 4.000000e+00 : f32
// CHECK-SAME: quant_type = #bnb.quant_type<nf4>
// CHECK-SAME: shape = array<i64: 32, 16>
func.func @linear_4bit_nested(%x: tensor<2x16xbf16>, %w: tensor<256x1xui8>, %a: tensor<8xui8>, %n: tensor<1xf32>, %b: tensor<32xbf16>) -> tensor<2x32xbf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xui8>) nested(%n : tensor<1xf32>) bias(%b : tensor<32xbf16>) {module = "l2", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = bf16, shape = array<i64: 32, 16>, nested_offset = 4.0 : f32} : tensor<2x16xbf16>, tensor<256x1xui8> -> tensor<2x32xbf16>
  return %y : tensor<2x32xbf16>
}

// CHECK-LABEL: func @linear_4bit_float_weight
// CHECK: bnb.linear_4bit %{{.+}}, %{{.+}} {blocksize = 128 : i64, compute_dtype = f32, module = "l3", quant_storage = bf16, quant_type = #bnb.quant_type<fp4>, shape = array<i64: 32, 16>}
func.func @linear_4bit_float_weight(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) -> tensor<2x32xf16> {
  %y = bnb.linear_4bit %x, %w {module = "l3", quant_type = #bnb.quant_type<fp4>, blocksize = 128 : i64, compute_dtype = f32, shape = array<i64: 32, 16>, quant_storage = bf16} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// CHECK-LABEL: func @int8_primitives
// CHECK: %[[Q:.+]], %[[S:.+]] = bnb.quantize_rowwise %{{.+}} {threshold = 6.000000e+00 : f32} : tensor<4x16xf16> -> tensor<4x16xi8>, tensor<4xf32>
// CHECK: %[[C:.+]], %[[O:.+]] = bnb.outlier_split %{{.+}} {threshold = 6.000000e+00 : f32} : tensor<4x16xf16> -> tensor<?xi64>, tensor<4x?xf16>
// CHECK: %[[M:.+]] = bnb.int8_matmul %[[Q]], %{{.+}} : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<4x32xi32>
// CHECK: bnb.dequantize_int8 %[[M]], %[[S]], %{{.+}} bias(%{{.+}} : tensor<32xf16>) : tensor<4x32xi32>, tensor<4xf32>, tensor<32xf32> -> tensor<4x32xf16>
func.func @int8_primitives(%x: tensor<4x16xf16>, %w: tensor<32x16xi8>, %scb: tensor<32xf32>, %b: tensor<32xf16>) -> (tensor<4x32xf16>, tensor<4x?xf16>) {
  %q, %s = bnb.quantize_rowwise %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<4x16xi8>, tensor<4xf32>
  %cols, %sub = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<?xi64>, tensor<4x?xf16>
  %c = bnb.int8_matmul %q, %w : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<4x32xi32>
  %y = bnb.dequantize_int8 %c, %s, %scb bias(%b : tensor<32xf16>) : tensor<4x32xi32>, tensor<4xf32>, tensor<32xf32> -> tensor<4x32xf16>
  return %y, %sub : tensor<4x32xf16>, tensor<4x?xf16>
}

// CHECK-LABEL: func @blockwise_primitives
// CHECK: bnb.quantize_4bit %{{.+}} {quant_type = #bnb.quant_type<nf4>} : tensor<3xf32> -> tensor<2x1xui8>, tensor<1xf32>
// CHECK: bnb.dequantize_4bit %{{.+}}, %{{.+}} {blocksize = 32 : i64, quant_type = #bnb.quant_type<fp4>} : tensor<256x1xui8>, tensor<16xf32> -> tensor<32x16xbf16>
// CHECK: bnb.quantize_blockwise %{{.+}} : tensor<512xf32> -> tensor<512xui8>, tensor<2xf32>
// CHECK: bnb.dequantize_blockwise %{{.+}}, %{{.+}} {blocksize = 64 : i64} : tensor<100xui8>, tensor<2xf32> -> tensor<100xf32>
func.func @blockwise_primitives(%v: tensor<3xf32>, %p: tensor<256x1xui8>, %a: tensor<16xf32>, %m: tensor<512xf32>, %q: tensor<100xui8>, %qa: tensor<2xf32>) {
  %p0, %a0 = bnb.quantize_4bit %v {quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64} : tensor<3xf32> -> tensor<2x1xui8>, tensor<1xf32>
  %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<fp4>, blocksize = 32 : i64} : tensor<256x1xui8>, tensor<16xf32> -> tensor<32x16xbf16>
  %q1, %a1 = bnb.quantize_blockwise %m {blocksize = 256 : i64} : tensor<512xf32> -> tensor<512xui8>, tensor<2xf32>
  %d = bnb.dequantize_blockwise %q, %qa {blocksize = 64 : i64} : tensor<100xui8>, tensor<2xf32> -> tensor<100xf32>
  return
}

}
