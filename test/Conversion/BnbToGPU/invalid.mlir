// RUN: bnb-opt %s --split-input-file --convert-bnb-to-gpu --verify-diagnostics

func.func @float_weight_4bit(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) -> tensor<2x32xf16> {
  // expected-error @+1 {{'bnb.linear_4bit' op has a float weight; run bnb-quantize-weights before lowering to the GPU}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
                               compute_dtype = f16, shape = array<i64: 32, 16>}
         : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

func.func @conv1d_int8(%x: tensor<2x16xf16>, %w: tensor<16x32xf16>) -> tensor<2x32xf16> {
  // expected-error @+1 {{'bnb.linear_int8' op has a Conv1D float weight; quantize it (bnb-quantize-weights) before lowering to the GPU}}
  %y = bnb.linear_int8 %x, %w {module = "m", threshold = 6.0 : f32, has_fp16_weight, conv1d}
         : tensor<2x16xf16>, tensor<16x32xf16> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

func.func @dynamic_dequantize(%p: tensor<?x1xui8>, %a: tensor<?xf32>) -> tensor<?xf16> {
  // expected-error @+1 {{'bnb.dequantize_4bit' op needs a static result shape on the GPU}}
  %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64}
         : tensor<?x1xui8>, tensor<?xf32> -> tensor<?xf16>
  return %w : tensor<?xf16>
}

// -----

// A dynamically shaped weight would size the kernels by kDynamic (INT64_MIN).
func.func @dynamic_weight_int8(%x: tensor<2x16xf16>, %w: tensor<?x16xi8>, %s: tensor<?xf32>) -> tensor<2x?xf16> {
  // expected-error @+1 {{'bnb.linear_int8' op needs a statically shaped weight (and state) on the GPU, got an operand of type tensor<?x16xi8>}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<?xf32>) {module = "m", threshold = 6.0 : f32}
         : tensor<2x16xf16>, tensor<?x16xi8> -> tensor<2x?xf16>
  return %y : tensor<2x?xf16>
}
