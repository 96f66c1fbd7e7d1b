// RUN: bnb-opt %s -split-input-file -bnb-expand | FileCheck %s

// LLM.int8() with outliers on a bf16 model: activations go to f16 for
// quantization, the int8 product is dequantized to f16, the bf16 bias is added
// to the f16 result in f32, and the outlier columns against the dequantized
// int8 weight are added in f32 and rounded once.
// CHECK-LABEL: func @int8_outliers_bf16
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x16xbf16>, %[[W:.+]]: tensor<32x16xi8>, %[[S:.+]]: tensor<32xf32>, %[[B:.+]]: tensor<32xbf16>)
// CHECK: %[[INV127:.+]] = arith.constant 0.00787401571 : f32
// CHECK: %[[X2:.+]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<2x3x16xbf16> into tensor<6x16xbf16>
// CHECK: %[[XH:.+]] = linalg.generic {{.+}} ins(%[[X2]] : tensor<6x16xbf16>)
// CHECK: arith.truncf %{{.+}} : f32 to f16
// CHECK: %[[Q:.+]], %[[SA:.+]] = bnb.quantize_rowwise %[[XH]] {threshold = 6.000000e+00 : f32}
// CHECK: %[[C:.+]] = bnb.int8_matmul %[[Q]], %[[W]] : tensor<6x16xi8>, tensor<32x16xi8> -> tensor<6x32xi32>
// CHECK: %[[Y:.+]] = bnb.dequantize_int8 %[[C]], %[[SA]], %[[S]] : tensor<6x32xi32>, tensor<6xf32>, tensor<32xf32> -> tensor<6x32xf16>
// CHECK: linalg.generic {{.+}} ins(%[[Y]], %{{.+}} : tensor<6x32xf16>, tensor<32xbf16>)
// CHECK: %[[COLS:.+]], %[[SUB:.+]] = bnb.outlier_split %[[X2]] {threshold = 6.000000e+00 : f32} : tensor<6x16xbf16> -> tensor<?xi64>, tensor<6x?xbf16>
// CHECK: %[[SUBB:.+]] = linalg.generic {{.+}} ins(%[[S]], %[[COLS]] : tensor<32xf32>, tensor<?xi64>)
// CHECK: tensor.extract %[[W]]
// CHECK: arith.mulf %{{.+}}, %[[INV127]] : f32
// CHECK: %[[SUM:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[SUB]], %[[SUBB]] : tensor<6x?xbf16>, tensor<32x?xbf16>) outs(%{{.+}} : tensor<6x32xf32>)
// CHECK: math.fma
// CHECK: %[[OUT:.+]] = linalg.generic {{.+}} ins(%[[SUM]], %{{.+}} : tensor<6x32xf32>, tensor<6x32xbf16>)
// CHECK: tensor.expand_shape %[[OUT]] {{\[}}[0, 1], [2]] output_shape [2, 3, 32] : tensor<6x32xbf16> into tensor<2x3x32xbf16>
func.func @int8_outliers_bf16(%x: tensor<2x3x16xbf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>, %b: tensor<32xbf16>) -> tensor<2x3x32xbf16> {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) bias(%b : tensor<32xbf16>) {module = "l0"} : tensor<2x3x16xbf16>, tensor<32x16xi8> -> tensor<2x3x32xbf16>
  return %y : tensor<2x3x32xbf16>
}

// -----

// threshold 0: no outlier path; an f16 bias is fused into the dequant.
// CHECK-LABEL: func @int8_no_outliers
// CHECK: bnb.quantize_rowwise %{{.+}} : tensor<2x16xf16> -> tensor<2x16xi8>, tensor<2xf32>
// CHECK: bnb.dequantize_int8 %{{.+}}, %{{.+}}, %{{.+}} bias(%{{.+}} : tensor<32xf16>)
// CHECK-NOT: bnb.outlier_split
// CHECK-NOT: math.fma
func.func @int8_no_outliers(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>, %b: tensor<32xf16>) -> tensor<2x32xf16> {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) bias(%b : tensor<32xf16>) {module = "l0", threshold = 0.0 : f32} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

// has_fp16_weight: the weight is quantized at run time (threshold 0); a
// Conv1D weight is transposed first.
// CHECK-LABEL: func @int8_fp16_weight_conv1d
// CHECK-SAME: %[[W:[a-z0-9]+]]: tensor<16x32xf32>
// CHECK: %[[T:.+]] = linalg.transpose ins(%[[W]] : tensor<16x32xf32>) outs(%{{.+}} : tensor<32x16xf32>) permutation = [1, 0]
// CHECK: %[[TH:.+]] = linalg.generic {{.+}} ins(%[[T]] : tensor<32x16xf32>)
// CHECK: %[[CB:.+]], %[[SCB:.+]] = bnb.quantize_rowwise %[[TH]] : tensor<32x16xf16> -> tensor<32x16xi8>, tensor<32xf32>
// CHECK: bnb.quantize_rowwise %{{.+}} {threshold = 6.000000e+00 : f32}
// CHECK: bnb.int8_matmul %{{.+}}, %[[CB]]
func.func @int8_fp16_weight_conv1d(%x: tensor<2x16xf32>, %w: tensor<16x32xf32>) -> tensor<2x32xf32> {
  %y = bnb.linear_int8 %x, %w {module = "c_fc", has_fp16_weight, conv1d} : tensor<2x16xf32>, tensor<16x32xf32> -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}

// -----

// 4-bit with double quantization: the absmax is reconstructed
// (dequantize_blockwise, + offset), the weight is dequantized straight into
// the compute dtype, the matmul accumulates in f32 with FMAs and the bias
// joins before the single rounding.
// CHECK-LABEL: func @four_bit_nested
// CHECK-SAME: (%[[X:.+]]: tensor<2x16xf16>, %[[W:.+]]: tensor<256x1xui8>, %[[A:.+]]: tensor<8xui8>, %[[N:.+]]: tensor<1xf32>, %[[B:.+]]: tensor<32xf16>)
// CHECK: %[[OFF:.+]] = arith.constant 4.000000e+00 : f32
// CHECK: %[[XC:.+]] = linalg.generic {{.+}} ins(%[[X]] : tensor<2x16xf16>)
// CHECK: %[[D:.+]] = bnb.dequantize_blockwise %[[A]], %[[N]] : tensor<8xui8>, tensor<1xf32> -> tensor<8xf32>
// CHECK: %[[ABS:.+]] = linalg.generic {{.+}} ins(%[[D]] : tensor<8xf32>)
// CHECK: arith.addf %{{.+}}, %[[OFF]] : f32
// CHECK: %[[WD:.+]] = bnb.dequantize_4bit %[[W]], %[[ABS]] {quant_type = #bnb.quant_type<nf4>} : tensor<256x1xui8>, tensor<8xf32> -> tensor<32x16xbf16>
// CHECK: %[[ACC:.+]] = linalg.generic {{.+}} ins(%[[XC]], %[[WD]] : tensor<2x16xbf16>, tensor<32x16xbf16>) outs(%{{.+}} : tensor<2x32xf32>)
// CHECK: math.fma
// CHECK: linalg.generic {{.+}} ins(%[[ACC]], %{{.+}} : tensor<2x32xf32>, tensor<32xbf16>) outs(%{{.+}} : tensor<2x32xbf16>)
func.func @four_bit_nested(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8xui8>, %n: tensor<1xf32>, %b: tensor<32xf16>) -> tensor<2x32xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xui8>) nested(%n : tensor<1xf32>) bias(%b : tensor<32xf16>) {module = "l2", quant_type = #bnb.quant_type<nf4>, compute_dtype = bf16, shape = array<i64: 32, 16>, nested_offset = 4.0 : f32} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

// CHECK-LABEL: func @four_bit_plain_f32
// CHECK: bnb.dequantize_4bit %{{.+}}, %{{.+}} {blocksize = 32 : i64, quant_type = #bnb.quant_type<fp4>} : tensor<256x1xui8>, tensor<16xf32> -> tensor<32x16xf32>
// CHECK: math.fma
func.func @four_bit_plain_f32(%x: tensor<1x16xf32>, %w: tensor<256x1xui8>, %a: tensor<16xf32>) -> tensor<1x32xf32> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<16xf32>) {module = "l3", quant_type = #bnb.quant_type<fp4>, blocksize = 32 : i64, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<1x16xf32>, tensor<256x1xui8> -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}
