// RUN: bnb-opt %s --split-input-file --convert-bnb-to-gpu | FileCheck %s

// 4-bit quantization: a warp per block (absmax by xor shuffles), the IEEE
// reciprocal 1/absmax, codes by threshold comparisons, packed pairs.
// CHECK-LABEL: func.func @quantize_4bit
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_quantize_4bit_nf4_f16_b64
// CHECK:       gpu.func @bnb_quantize_4bit_nf4_f16_b64(
// CHECK:         gpu.shuffle  xor
// CHECK:         %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK:         arith.divf %[[ONE]], %{{.*}} : f32
// CHECK:         arith.cmpf ogt
// CHECK:         arith.shli
// CHECK:         vector.store %{{.*}} : memref<?xui8>, vector<1xui8>
func.func @quantize_4bit(%w: tensor<32x16xf16>) -> (tensor<256x1xui8>, tensor<8xf32>) {
  %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64}
             : tensor<32x16xf16> -> tensor<256x1xui8>, tensor<8xf32>
  return %p, %a : tensor<256x1xui8>, tensor<8xf32>
}

// -----

// 4-bit dequantization: one thread per byte, the code book as a constant
// table, f32 products rounded to the result type.
// CHECK-LABEL: func.func @dequantize_4bit
// CHECK:         %[[OUT:.*]] = memref.alloc() : memref<32x16xbf16>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_dequantize_4bit_fp4_bf16_b64
// CHECK:       memref.global "private" constant @bnb_fp4_code : memref<16xf32>
// CHECK:       gpu.func @bnb_dequantize_4bit_fp4_bf16_b64(
// CHECK:         arith.shrui
// CHECK:         memref.get_global @bnb_fp4_code
// CHECK:         arith.mulf %{{.*}} : f32
// CHECK:         arith.truncf %{{.*}} : f32 to bf16
func.func @dequantize_4bit(%p: tensor<256x1xui8>, %a: tensor<8xf32>) -> tensor<32x16xbf16> {
  %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<fp4>, blocksize = 64 : i64}
         : tensor<256x1xui8>, tensor<8xf32> -> tensor<32x16xbf16>
  return %w : tensor<32x16xbf16>
}

// -----

// 8-bit blockwise: a binary search over the dynamic map.
// CHECK-LABEL: func.func @blockwise
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_quantize_blockwise_f32_b256
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_dequantize_blockwise_f32_b256
// CHECK:       memref.global "private" constant @bnb_dynamic_map : memref<256xf32>
func.func @blockwise(%x: tensor<?xf32>) -> tensor<?xf32> {
  %q, %a = bnb.quantize_blockwise %x {blocksize = 256 : i64} : tensor<?xf32> -> tensor<?xui8>, tensor<?xf32>
  %y = bnb.dequantize_blockwise %q, %a {blocksize = 256 : i64} : tensor<?xui8>, tensor<?xf32> -> tensor<?xf32>
  return %y : tensor<?xf32>
}

// -----

// Row-wise quantization with a threshold zeroes the outlier columns in a
// second kernel.
// CHECK-LABEL: func.func @quantize_rowwise
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_rowquant_f16_outliers
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_zero_columns
func.func @quantize_rowwise(%x: tensor<4x64xf16>) -> (tensor<4x64xi8>, tensor<4xf32>) {
  %q, %s = bnb.quantize_rowwise %x {threshold = 6.0 : f32} : tensor<4x64xf16> -> tensor<4x64xi8>, tensor<4xf32>
  return %q, %s : tensor<4x64xi8>, tensor<4xf32>
}

// -----

// The outlier count sizes the results: it is copied to the host after the
// compaction, and the gather runs on the device.
// CHECK-LABEL: func.func @outlier_split
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_outlier_flags_f16
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_compact_columns_64
// CHECK:         %[[HOST:.*]] = memref.alloca() : memref<1xi32>
// CHECK:         gpu.memcpy %[[HOST]], %{{.*}} : memref<1xi32>, memref<1xi32>
// CHECK:         gpu.wait
// CHECK:         %[[N:.*]] = memref.load %[[HOST]]
// CHECK:         %[[C:.*]] = arith.index_castui %[[N]] : i32 to index
// CHECK:         memref.alloc(%[[C]]) : memref<?xi64>
// CHECK:         memref.alloc(%[[C]]) : memref<4x?xf16>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_outlier_gather_f16
func.func @outlier_split(%x: tensor<4x64xf16>) -> (tensor<?xi64>, tensor<4x?xf16>) {
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x64xf16> -> tensor<?xi64>, tensor<4x?xf16>
  return %c, %o : tensor<?xi64>, tensor<4x?xf16>
}

// -----

// int8 matmul: the tensor-core GEMM writing int32; dequantization: one
// thread per element with the FMA of int8_mm_dequant.
// CHECK-LABEL: func.func @int8
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_int8_gemm_128x128_w2x4_i32
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_dequantize_int8_bias
// CHECK:       gpu.func @bnb_dequantize_int8_bias(
// CHECK:         arith.sitofp
// CHECK:         %[[A:.*]] = arith.mulf
// CHECK:         %[[B:.*]] = arith.mulf %[[A]]
// CHECK:         math.fma %[[B]]
// CHECK:         arith.truncf %{{.*}} : f32 to f16
func.func @int8(%a: tensor<64x128xi8>, %b: tensor<32x128xi8>, %r: tensor<64xf32>, %s: tensor<32xf32>,
                %bias: tensor<32xf16>) -> tensor<64x32xf16> {
  %c = bnb.int8_matmul %a, %b : tensor<64x128xi8>, tensor<32x128xi8> -> tensor<64x32xi32>
  %y = bnb.dequantize_int8 %c, %r, %s bias(%bias : tensor<32xf16>)
         : tensor<64x32xi32>, tensor<64xf32>, tensor<32xf32> -> tensor<64x32xf16>
  return %y : tensor<64x32xf16>
}
