// RUN: bnb-opt %s -canonicalize -split-input-file | FileCheck %s

// x · 0ᵀ is exactly zero in integer arithmetic.
// CHECK-LABEL: func @int8_matmul_zero_rhs
// CHECK-NOT: bnb.int8_matmul
// CHECK: %[[Z:.+]] = arith.constant dense<0> : tensor<4x32xi32>
// CHECK: return %[[Z]]
func.func @int8_matmul_zero_rhs(%a: tensor<4x16xi8>) -> tensor<4x32xi32> {
  %z = arith.constant dense<0> : tensor<32x16xi8>
  %c = bnb.int8_matmul %a, %z : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<4x32xi32>
  return %c : tensor<4x32xi32>
}

// -----

// CHECK-LABEL: func @int8_matmul_zero_lhs
// CHECK-NOT: bnb.int8_matmul
// CHECK: arith.constant dense<0> : tensor<4x32xi32>
func.func @int8_matmul_zero_lhs(%b: tensor<32x16xi8>) -> tensor<4x32xi32> {
  %z = arith.constant dense<0> : tensor<4x16xi8>
  %c = bnb.int8_matmul %z, %b : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<4x32xi32>
  return %c : tensor<4x32xi32>
}

// -----

// A non-zero constant is not folded away.
// CHECK-LABEL: func @int8_matmul_nonzero
// CHECK: bnb.int8_matmul
func.func @int8_matmul_nonzero(%a: tensor<4x16xi8>) -> tensor<4x32xi32> {
  %z = arith.constant dense<1> : tensor<32x16xi8>
  %c = bnb.int8_matmul %a, %z : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<4x32xi32>
  return %c : tensor<4x32xi32>
}

// -----

// dequantize(quantize(x)) is lossy and must never fold to x.
// CHECK-LABEL: func @no_roundtrip_fold_4bit
// CHECK: %[[P:.+]], %[[A:.+]] = bnb.quantize_4bit
// CHECK: %[[W:.+]] = bnb.dequantize_4bit %[[P]], %[[A]]
// CHECK: return %[[W]]
func.func @no_roundtrip_fold_4bit(%w: tensor<32x16xf16>) -> tensor<32x16xf16> {
  %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>} : tensor<32x16xf16> -> tensor<256x1xui8>, tensor<8xf32>
  %d = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<nf4>} : tensor<256x1xui8>, tensor<8xf32> -> tensor<32x16xf16>
  return %d : tensor<32x16xf16>
}

// -----

// CHECK-LABEL: func @no_roundtrip_fold_blockwise
// CHECK: bnb.quantize_blockwise
// CHECK: bnb.dequantize_blockwise
func.func @no_roundtrip_fold_blockwise(%x: tensor<512xf32>) -> tensor<512xf32> {
  %q, %a = bnb.quantize_blockwise %x : tensor<512xf32> -> tensor<512xui8>, tensor<2xf32>
  %d = bnb.dequantize_blockwise %q, %a : tensor<512xui8>, tensor<2xf32> -> tensor<512xf32>
  return %d : tensor<512xf32>
}

// -----

// Unused pure ops are removed.
// CHECK-LABEL: func @dead_quantize
// CHECK-NOT: bnb.
func.func @dead_quantize(%x: tensor<4x16xf16>) {
  %q, %s = bnb.quantize_rowwise %x : tensor<4x16xf16> -> tensor<4x16xi8>, tensor<4xf32>
  return
}
