// RUN: bnb-opt %s -split-input-file -convert-bnb-to-ukernels | FileCheck %s

// NF4 with double quantization: x goes to the compute dtype (bf16) and back
// to f32, one call of the fused kernel with the NF4 code book, the dynamic
// map, blocksize 64, nested blocksize 256, the offset and compute code 2
// (bf16); the f16 bias is added to the f32 accumulator before the single
// rounding to bf16, then the result goes back to f16.
// CHECK-LABEL: func.func private @bnbrt_uk_linear_4bit_dq
// CHECK-SAME: (memref<?x?xf32>, memref<?x?xf32>, memref<?xi8>, memref<?xi8>, memref<?xf32>, memref<?xf32>, memref<?xf32>, i64, i64, f32, i64)
// CHECK-SAME: attributes {bnb.ukernel, llvm.emit_c_interface}
// CHECK-LABEL: func @nf4_dq
// CHECK-SAME: (%[[X:.+]]: tensor<2x16xf16>, %[[W:.+]]: tensor<256x1xui8>, %[[A:.+]]: tensor<8xui8>, %[[N:.+]]: tensor<1xf32>, %[[B:.+]]: tensor<32xf16>)
// CHECK-DAG: %[[C64:.+]] = arith.constant 64 : i64
// CHECK-DAG: %[[C256:.+]] = arith.constant 256 : i64
// CHECK-DAG: %[[C2:.+]] = arith.constant 2 : i64
// CHECK-DAG: %[[OFF:.+]] = arith.constant 4.000000e+00 : f32
// CHECK-DAG: %[[NF4:.+]] = arith.constant dense<[-1.000000e+00, -0.6961928, {{.+}}, 1.000000e+00]> : tensor<16xf32>
// CHECK-DAG: %[[MAP:.+]] = arith.constant dense<"0x{{[0-9A-F]+}}"> : tensor<256xf32>
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: %[[XF:.+]] = linalg.generic {{.+}} ins(%{{.+}} : tensor<2x16xbf16>) outs(%{{.+}} : tensor<2x16xf32>)
// CHECK: %[[WF:.+]] = tensor.collapse_shape %[[W]] {{\[}}[0, 1]] : tensor<256x1xui8> into tensor<256xui8>
// CHECK: %[[OUT:.+]] = memref.alloc() : memref<2x32xf32>
// CHECK: %[[OUTD:.+]] = memref.cast %[[OUT]] : memref<2x32xf32> to memref<?x?xf32>
// CHECK: bufferization.to_buffer %[[XF]] read_only : tensor<2x16xf32> to memref<2x16xf32>
// CHECK: tensor.bitcast %[[WF]] : tensor<256xui8> to tensor<256xi8>
// CHECK: tensor.bitcast %[[A]] : tensor<8xui8> to tensor<8xi8>
// CHECK: bufferization.to_buffer %[[N]] read_only
// CHECK: bufferization.to_buffer %[[MAP]] read_only
// CHECK: bufferization.to_buffer %[[NF4]] read_only
// CHECK: call @bnbrt_uk_linear_4bit_dq(%[[OUTD]], {{.+}}, %[[C64]], %[[C256]], %[[OFF]], %[[C2]])
// CHECK: %[[ACC:.+]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<2x32xf32> to tensor<2x32xf32>
// CHECK: %[[Y:.+]] = linalg.generic {{.+}} ins(%[[ACC]], %{{.+}} : tensor<2x32xf32>, tensor<32xbf16>) outs(%{{.+}} : tensor<2x32xbf16>)
// CHECK: arith.addf
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: linalg.generic {{.+}} ins(%[[Y]] : tensor<2x32xbf16>) outs(%{{.+}} : tensor<2x32xf16>)
// CHECK-NOT: bnb.linear_4bit
// CHECK: return
func.func @nf4_dq(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8xui8>, %n: tensor<1xf32>, %b: tensor<32xf16>) -> tensor<2x32xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xui8>) nested(%n : tensor<1xf32>) bias(%b : tensor<32xf16>) {module = "l2", quant_type = #bnb.quant_type<nf4>, compute_dtype = bf16, shape = array<i64: 32, 16>, nested_offset = 4.0 : f32} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

// FP4, f32 absmax, compute f32, blocksize 32, 3-D input: no casts of x, the
// FP4 code book (code 8 is -0), the result reshaped back.
// CHECK-LABEL: func @fp4_f32
// CHECK-DAG: %[[C32:.+]] = arith.constant 32 : i64
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : i64
// CHECK-DAG: arith.constant dense<[0.000000e+00, 0.00520833349, 0.666666686, 1.000000e+00, 0.333333343, 5.000000e-01, 0.166666672, 2.500000e-01, -0.000000e+00, {{.+}}]> : tensor<16xf32>
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0, 1], [2]] : tensor<1x3x16xf32> into tensor<3x16xf32>
// CHECK-NOT: linalg.generic
// CHECK: call @bnbrt_uk_linear_4bit(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %[[C32]], %[[C0]]) : (memref<?x?xf32>, memref<?x?xf32>, memref<?xi8>, memref<?xf32>, memref<?xf32>, i64, i64) -> ()
// CHECK: tensor.expand_shape %{{.+}} {{\[}}[0, 1], [2]] output_shape [1, 3, 32] : tensor<3x32xf32> into tensor<1x3x32xf32>
func.func @fp4_f32(%x: tensor<1x3x16xf32>, %w: tensor<256x1xui8>, %a: tensor<16xf32>) -> tensor<1x3x32xf32> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<16xf32>) {module = "l3", quant_type = #bnb.quant_type<fp4>, blocksize = 32 : i64, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<1x3x16xf32>, tensor<256x1xui8> -> tensor<1x3x32xf32>
  return %y : tensor<1x3x32xf32>
}

// -----

// LLM.int8(): the layer is expanded as bnb-expand does, and its int8 product
// becomes the exact int32 microkernel; the quantization, dequant and outlier
// path around it stay bnb ops for the portable lowering.
// CHECK-LABEL: func @int8
// CHECK: %[[Q:.+]], %{{.+}} = bnb.quantize_rowwise
// CHECK: %[[OUT:.+]] = memref.alloc() : memref<2x32xi32>
// CHECK: %[[QB:.+]] = bufferization.to_buffer %[[Q]] read_only : tensor<2x16xi8> to memref<2x16xi8>
// CHECK: call @bnbrt_uk_int8_matmul(%{{.+}}, %{{.+}}, %{{.+}}) : (memref<?x?xi32>, memref<?x?xi8>, memref<?x?xi8>) -> ()
// CHECK: %[[C:.+]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: bnb.dequantize_int8 %[[C]]
// CHECK: bnb.outlier_split
// CHECK-NOT: bnb.int8_matmul
func.func @int8(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>) -> tensor<2x32xf16> {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) {module = "l0"} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// -----

// A skipped f16 nn.Linear (lm_head): x·Wᵀ accumulated in f32 (transposed
// flag 1), rounded once to f16; a zero-filled init adds nothing.
#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mB = affine_map<(m, n, k) -> (k, n)>
#mC = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @lm_head_f16
// CHECK-SAME: (%[[X:.+]]: tensor<2x16xf16>, %[[W:.+]]: tensor<32x16xf16>)
// CHECK: %[[ONE:.+]] = arith.constant 1 : i64
// CHECK: arith.extf %{{.+}} : f16 to f32
// CHECK: bufferization.to_buffer %[[W]] read_only : tensor<32x16xf16> to memref<32x16xf16>
// CHECK: call @bnbrt_uk_matmul_f16(%{{.+}}, %{{.+}}, %{{.+}}, %[[ONE]]) : (memref<?x?xf32>, memref<?x?xf32>, memref<?x?xf16>, i64) -> ()
// CHECK: linalg.generic
// CHECK-NEXT: ^bb0(%[[IN:.+]]: f32, %{{.+}}: f16):
// CHECK-NEXT: arith.truncf %[[IN]] : f32 to f16
// CHECK-NOT: linalg.matmul
func.func @lm_head_f16(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) -> tensor<2x32xf16> {
  %zero = arith.constant 0.0 : f16
  %e = tensor.empty() : tensor<2x32xf16>
  %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x32xf16>) -> tensor<2x32xf16>
  %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
         ins(%x, %w : tensor<2x16xf16>, tensor<32x16xf16>) outs(%f : tensor<2x32xf16>) -> tensor<2x32xf16>
  return %y : tensor<2x32xf16>
}

// A bf16 Conv1D (x·W, W [K, N]) into an init that is not zero: flag 0, and
// the init is added in f32 before the rounding.
// CHECK-LABEL: func @conv1d_bf16_init
// CHECK-SAME: (%[[X:.+]]: tensor<2x16xbf16>, %[[W:.+]]: tensor<16x32xbf16>, %[[I:.+]]: tensor<2x32xbf16>)
// CHECK: %[[ZERO:.+]] = arith.constant 0 : i64
// CHECK: call @bnbrt_uk_matmul_bf16(%{{.+}}, %{{.+}}, %{{.+}}, %[[ZERO]])
// CHECK: %[[ACC:.+]] = bufferization.to_tensor
// CHECK: linalg.generic {{.+}} ins(%[[ACC]], %[[I]] : tensor<2x32xf32>, tensor<2x32xbf16>)
// CHECK: arith.extf
// CHECK: arith.addf
// CHECK: arith.truncf %{{.+}} : f32 to bf16
func.func @conv1d_bf16_init(%x: tensor<2x16xbf16>, %w: tensor<16x32xbf16>, %i: tensor<2x32xbf16>) -> tensor<2x32xbf16> {
  %y = linalg.matmul ins(%x, %w : tensor<2x16xbf16>, tensor<16x32xbf16>) outs(%i : tensor<2x32xbf16>) -> tensor<2x32xbf16>
  return %y : tensor<2x32xbf16>
}

// Integer matmuls, transposed-A maps and dynamic shapes are left alone.
// CHECK-LABEL: func @left_alone
// CHECK-COUNT-3: linalg.matmul
// CHECK-NOT: call
func.func @left_alone(%a: tensor<2x16xi8>, %b: tensor<16x32xi8>, %c: tensor<2x32xi32>,
                      %x: tensor<16x2xf32>, %w: tensor<16x32xf32>, %o: tensor<2x32xf32>,
                      %dx: tensor<?x16xf32>, %do: tensor<?x32xf32>) -> (tensor<2x32xi32>, tensor<2x32xf32>, tensor<?x32xf32>) {
  %0 = linalg.matmul ins(%a, %b : tensor<2x16xi8>, tensor<16x32xi8>) outs(%c : tensor<2x32xi32>) -> tensor<2x32xi32>
  %1 = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (k, m)>, #mB, #mC]
         ins(%x, %w : tensor<16x2xf32>, tensor<16x32xf32>) outs(%o : tensor<2x32xf32>) -> tensor<2x32xf32>
  %2 = linalg.matmul ins(%dx, %w : tensor<?x16xf32>, tensor<16x32xf32>) outs(%do : tensor<?x32xf32>) -> tensor<?x32xf32>
  return %0, %1, %2 : tensor<2x32xi32>, tensor<2x32xf32>, tensor<?x32xf32>
}

// -----

// A function of the module already named like a microkernel: the matmul is
// left for the portable lowering rather than calling the wrong function.
// CHECK-LABEL: func @name_clash
// CHECK: linalg.matmul
func.func private @bnbrt_uk_matmul_f32(%a: i32)
func.func @name_clash(%x: tensor<2x16xf32>, %w: tensor<16x32xf32>, %o: tensor<2x32xf32>) -> tensor<2x32xf32> {
  %y = linalg.matmul ins(%x, %w : tensor<2x16xf32>, tensor<16x32xf32>) outs(%o : tensor<2x32xf32>) -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}
