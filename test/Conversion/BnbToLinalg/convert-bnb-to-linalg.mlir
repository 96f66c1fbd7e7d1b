// RUN: bnb-opt %s -split-input-file -convert-bnb-to-linalg | FileCheck %s

// quantize_4bit: per-block absmax (NaN-ignoring max from -FLT_MAX), the IEEE
// reciprocal and a multiply, codes as counts of strict comparisons with the
// kernel thresholds, two codes per byte (first in the high nibble); the
// unsigned packed tensor becomes signless i8, in the signature too.
// CHECK-LABEL: func.func @quantize_nf4
// CHECK-SAME: -> (tensor<32x1xi8>, tensor<1xf32>)
// CHECK: %[[FLAT:.+]] = tensor.collapse_shape %{{.+}} {{\[}}[0, 1]] : tensor<4x16xf16> into tensor<64xf16>
// CHECK: %[[LOWEST:.+]] = arith.constant -3.40282347E+38 : f32
// CHECK: %[[INIT:.+]] = linalg.fill ins(%[[LOWEST]] : f32)
// CHECK: %[[ABSMAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]} {{.+}} outs(%[[INIT]] : tensor<1xf32>)
// CHECK: math.absf
// CHECK: arith.maxnumf
// CHECK: linalg.generic
// CHECK: tensor.extract %[[ABSMAX]]
// CHECK: %[[INV:.+]] = arith.divf %{{.+}}, %[[ABSMAX_BLOCK:.+]] : f32
// CHECK: arith.mulf %{{.+}}, %[[INV]] : f32
// CHECK: arith.constant -0.84809643 : f32
// CHECK: arith.cmpf ogt
// CHECK: arith.shli
// CHECK: arith.ori
// CHECK: tensor.expand_shape {{.+}} into tensor<32x1xi8>
func.func @quantize_nf4(%w: tensor<4x16xf16>) -> (tensor<32x1xui8>, tensor<1xf32>) {
  %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>} : tensor<4x16xf16> -> tensor<32x1xui8>, tensor<1xf32>
  return %p, %a : tensor<32x1xui8>, tensor<1xf32>
}

// -----

// A partial last block is padded with zeros, as the kernels' loader does.
// CHECK-LABEL: func.func @quantize_fp4_odd
// CHECK: tensor.pad %{{.+}} low[0] high[61]
// CHECK: tensor.expand_shape {{.+}} into tensor<1x64xf32>
// FP4's sign bit comes from x < 0 (so -0.0 keeps sign 0).
// CHECK: arith.cmpf olt
func.func @quantize_fp4_odd(%w: tensor<3xf32>) -> (tensor<2x1xui8>, tensor<1xf32>) {
  %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<fp4>} : tensor<3xf32> -> tensor<2x1xui8>, tensor<1xf32>
  return %p, %a : tensor<2x1xui8>, tensor<1xf32>
}

// -----

// dequantize_4bit: nibble by element parity, code-book lookup, one f32
// multiply with the block's absmax, one rounding to the result type.
// CHECK-LABEL: func.func @dequantize_nf4
// CHECK-SAME: (%[[P:.+]]: tensor<32x1xi8>, %[[A:.+]]: tensor<1xf32>) -> tensor<4x16xbf16>
// CHECK: %[[TABLE:.+]] = arith.constant dense<[-1.000000e+00, -0.6961928{{.+}}, 1.000000e+00]> : tensor<16xf32>
// CHECK: linalg.generic
// CHECK: tensor.extract %[[P]]
// CHECK: arith.shrui
// CHECK: arith.andi
// CHECK: tensor.extract %[[TABLE]]
// CHECK: %[[W:.+]] = arith.mulf
// CHECK: arith.truncf %[[W]] : f32 to bf16
// CHECK: tensor.expand_shape {{.+}} into tensor<4x16xbf16>
func.func @dequantize_nf4(%p: tensor<32x1xui8>, %a: tensor<1xf32>) -> tensor<4x16xbf16> {
  %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<nf4>} : tensor<32x1xui8>, tensor<1xf32> -> tensor<4x16xbf16>
  return %w : tensor<4x16xbf16>
}

// -----

// quantize_blockwise: a binary search over the dynamic map, then the nearer
// neighbour split at the f32 midpoint, ties to the even index;
// dequantize_blockwise looks the codes up.
// CHECK-LABEL: func.func @blockwise
// CHECK: %[[QMAP:.+]] = arith.constant dense<{{.+}}> : tensor<256xf32>
// CHECK: tensor.extract %[[QMAP]]
// CHECK: arith.cmpf ole
// CHECK: arith.addf
// CHECK: arith.mulf
// CHECK: arith.cmpf olt
// CHECK: arith.cmpf ogt
// CHECK: arith.trunci {{.+}} : i32 to i8
// CHECK: %[[MAP:.+]] = arith.constant dense<{{.+}}> : tensor<256xf32>
// CHECK: tensor.extract %[[MAP]]
func.func @blockwise(%x: tensor<300xf32>) -> tensor<300xf32> {
  %q, %a = bnb.quantize_blockwise %x : tensor<300xf32> -> tensor<300xui8>, tensor<2xf32>
  %d = bnb.dequantize_blockwise %q, %a : tensor<300xui8>, tensor<2xf32> -> tensor<300xf32>
  return %d : tensor<300xf32>
}

// -----

// quantize_rowwise with outliers: the row absmax skips |x| >= f16(threshold)
// and NaN, the scale is 127 * (1/absmax), rounding is half to even, and
// elements of outlier columns (any row) are written as 0.
// CHECK-LABEL: func.func @rowwise
// CHECK: %[[STATS:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]}
// CHECK: arith.cmpf oge, %{{.+}}, %[[THR:.+]] : f32
// CHECK: %[[MASK:.+]] = linalg.generic {{.+}} iterator_types = ["reduction", "parallel"]}
// CHECK: arith.ori
// CHECK: linalg.generic {{.+}} ins(%{{.+}}, %[[STATS]], %[[MASK]] : tensor<4x16xf16>, tensor<4xf32>, tensor<16xi1>)
// CHECK: arith.divf
// CHECK: math.roundeven
// CHECK: arith.cmpf uno
// CHECK: arith.fptosi {{.+}} : f32 to i32
// CHECK: arith.trunci {{.+}} : i32 to i8
func.func @rowwise(%x: tensor<4x16xf16>) -> (tensor<4x16xi8>, tensor<4xf32>) {
  %q, %s = bnb.quantize_rowwise %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<4x16xi8>, tensor<4xf32>
  return %q, %s : tensor<4x16xi8>, tensor<4xf32>
}

// -----

// outlier_split: count the outlier columns, list them in ascending order,
// gather the sub-matrix in the input's own type.
// CHECK-LABEL: func.func @split
// CHECK: %[[COUNT:.+]] = scf.for
// CHECK: %[[COLS:.+]] = tensor.empty(%[[COUNT]]) : tensor<?xi64>
// CHECK: scf.for
// CHECK: scf.if
// CHECK: tensor.insert
// CHECK: tensor.empty(%[[COUNT]]) : tensor<4x?xbf16>
func.func @split(%x: tensor<4x16xbf16>) -> (tensor<?xi64>, tensor<4x?xbf16>) {
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xbf16> -> tensor<?xi64>, tensor<4x?xbf16>
  return %c, %o : tensor<?xi64>, tensor<4x?xbf16>
}

// -----

// int8_matmul is linalg.matmul (A·Bᵀ maps) into a zero i32 accumulator;
// dequantize_int8 is one FMA with 6.200012e-05 and the f16 bias.
// CHECK-LABEL: func.func @int8
// CHECK: %[[ACC:.+]] = linalg.matmul indexing_maps = [#{{.+}}, #{{.+}}, #{{.+}}] ins(%{{.+}}, %{{.+}} : tensor<4x16xi8>, tensor<8x16xi8>) outs(%{{.+}} : tensor<4x8xi32>)
// CHECK: linalg.generic {{.+}} ins(%[[ACC]], %{{.+}}, %{{.+}}, %{{.+}} : tensor<4x8xi32>, tensor<4xf32>, tensor<8xf32>, tensor<8xf16>)
// CHECK: arith.sitofp
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: %[[C:.+]] = arith.constant 6.20001229E-5 : f32
// CHECK: math.fma %{{.+}}, %[[C]], %{{.+}} : f32
// CHECK: arith.truncf {{.+}} : f32 to f16
func.func @int8(%a: tensor<4x16xi8>, %b: tensor<8x16xi8>, %r: tensor<4xf32>, %c: tensor<8xf32>, %bias: tensor<8xf16>) -> tensor<4x8xf16> {
  %acc = bnb.int8_matmul %a, %b : tensor<4x16xi8>, tensor<8x16xi8> -> tensor<4x8xi32>
  %y = bnb.dequantize_int8 %acc, %r, %c bias(%bias : tensor<8xf16>) : tensor<4x8xi32>, tensor<4xf32>, tensor<8xf32> -> tensor<4x8xf16>
  return %y : tensor<4x8xf16>
}
