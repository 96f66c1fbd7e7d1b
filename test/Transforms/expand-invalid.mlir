// RUN: bnb-opt %s -split-input-file -bnb-expand -verify-diagnostics

func.func @float_4bit(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) -> tensor<2x32xf16> {
  // expected-error @+1 {{'bnb.linear_4bit' op has a float weight; run bnb-quantize-weights before bnb-expand}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

func.func @dynamic_input(%x: tensor<?x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>) -> tensor<?x32xf16> {
  // expected-error @+1 {{'bnb.linear_int8' op needs a statically shaped input to be expanded}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) {module = "m"} : tensor<?x16xf16>, tensor<32x16xi8> -> tensor<?x32xf16>
  return %y : tensor<?x32xf16>
}
