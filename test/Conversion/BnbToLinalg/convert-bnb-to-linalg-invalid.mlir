// RUN: bnb-opt %s -split-input-file -convert-bnb-to-linalg -verify-diagnostics

// Whole layers are expanded by bnb-expand first.
func.func @unexpanded(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>) -> tensor<2x32xf16> {
  // expected-error @+1 {{failed to legalize operation 'bnb.linear_int8' that was explicitly marked illegal}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) {module = "m"} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

// The CPU lowering needs static shapes.
func.func @dynamic(%x: tensor<?x16xf16>) -> (tensor<?x16xi8>, tensor<?xf32>) {
  // expected-error @+1 {{failed to legalize operation 'bnb.quantize_rowwise' that was explicitly marked illegal}}
  %q, %s = bnb.quantize_rowwise %x : tensor<?x16xf16> -> tensor<?x16xi8>, tensor<?xf32>
  return %q, %s : tensor<?x16xi8>, tensor<?xf32>
}
