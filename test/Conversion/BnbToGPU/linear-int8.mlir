// RUN: bnb-opt %s --split-input-file --convert-bnb-to-gpu | FileCheck %s

// Kernels are listed by name in the kernel module.
// LLM.int8() with outliers: zeroed column mask, row quantization with
// outlier detection (one block per row), compaction of the mask, then the
// int8 GEMM whose epilogue takes the outlier list and count and the
// original activations. No host round trip.
// CHECK-LABEL: func.func @outliers
// CHECK:         %[[CA:.*]] = memref.alloc(%{{.*}}) : memref<?xi8>
// CHECK:         %[[SCA:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK:         %[[FLAGS:.*]] = memref.alloc(%{{.*}}) : memref<?xi32>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_zero_fill_i32 {{.*}} args(%[[FLAGS]] : memref<?xi32>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_rowquant_f16_outliers {{.*}} args(%{{.*}} : memref<?xf16>, %[[CA]] : memref<?xi8>, %[[SCA]] : memref<?xf32>, %[[FLAGS]] : memref<?xi32>, %{{.*}} : f32,
// CHECK:         %[[LIST:.*]] = memref.alloc(%{{.*}}) : memref<?xi32>
// CHECK:         %[[COUNT:.*]] = memref.alloc(%{{.*}}) : memref<?xi32>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_compact_columns_32 {{.*}} args(%[[FLAGS]] : memref<?xi32>, %[[LIST]] : memref<?xi32>, %[[COUNT]] : memref<?xi32>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_int8_gemm_128x128_w2x4_dequant_f16_bias_f16_outliers
// CHECK-SAME:      args(%[[CA]] : memref<?xi8>, %{{.*}} : memref<?xi8>, %{{.*}} : memref<?xf16>, {{.*}}, %[[SCA]] : memref<?xf32>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?xf16>, %{{.*}} : memref<?xf16>, %[[LIST]] : memref<?xi32>, %[[COUNT]] : memref<?xi32>)
// Compaction: popcounts and a shuffle prefix sum in one block.
// CHECK:       gpu.func @bnb_compact_columns_32(
// CHECK-SAME:    known_block_size = array<i32: 1024, 1, 1>
// CHECK:         math.ctpop
// CHECK:         gpu.shuffle  up
// The GEMM: cp.async into three stages, ldmatrix, m16n8k32 s8 MMAs, the
// dequantization FMA with 1/127^2 in the epilogue.
// CHECK:       gpu.func @bnb_int8_gemm_128x128_w2x4_dequant_f16_bias_f16_outliers(
// CHECK-SAME:    workgroup(%{{.*}} : memref<3x128x64xi8, #gpu.address_space<workgroup>>, %{{.*}} : memref<3x128x64xi8, #gpu.address_space<workgroup>>)
// CHECK:         nvgpu.device_async_copy {{.*}}, 16, %{{.*}} {bypassL1}
// CHECK:         nvgpu.device_async_create_group
// CHECK:         nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// CHECK:         nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false} : memref<3x128x64xi8, #gpu.address_space<workgroup>> -> vector<4x4xi8>
// CHECK:         nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 32]} : (vector<4x4xi8>, vector<2x4xi8>, vector<2x2xi32>) -> vector<2x2xi32>
// CHECK:         %[[C:.*]] = arith.constant 6.20001229E-5 : f32
// CHECK:         math.fma %{{.*}}, %[[C]], %{{.*}} : f32
// Row quantization: fp16 cast, outliers (|x| >= threshold) marked with an
// atomic OR and left out of the absmax, 127 / absmax by division, round half
// to even.
// CHECK:       gpu.func @bnb_rowquant_f16_outliers(
// CHECK:         arith.cmpf oge
// CHECK:         memref.atomic_rmw ori
// CHECK:         gpu.shuffle  xor
// CHECK:         arith.divf %{{.*}}, %{{.*}} : f32
// CHECK:         math.roundeven
// CHECK:         arith.fptosi
func.func @outliers(%x: tensor<2048x4096xf16>, %w: tensor<4096x4096xi8>, %s: tensor<4096xf32>, %b: tensor<4096xf16>) -> tensor<2048x4096xf16> {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<4096xf32>) bias(%b : tensor<4096xf16>) {module = "m", threshold = 6.0 : f32}
         : tensor<2048x4096xf16>, tensor<4096x4096xi8> -> tensor<2048x4096xf16>
  return %y : tensor<2048x4096xf16>
}

// -----

// threshold = 0: no outlier path; a small batch uses the 32 x 64 tile.
// CHECK-LABEL: func.func @no_outliers
// CHECK-NOT:     bnb_compact_columns
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_rowquant_bf16 blocks
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_int8_gemm_32x64_w2x2_dequant_bf16 blocks
func.func @no_outliers(%x: tensor<1x4096xbf16>, %w: tensor<11008x4096xi8>, %s: tensor<11008xf32>) -> tensor<1x11008xbf16> {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<11008xf32>) {module = "m", threshold = 0.0 : f32}
         : tensor<1x4096xbf16>, tensor<11008x4096xi8> -> tensor<1x11008xbf16>
  return %y : tensor<1x11008xbf16>
}

// -----

// A 16-bit weight (has_fp16_weight) is quantized row-wise first; K % 64 != 0
// uses the generic int8 kernel.
// CHECK-LABEL: func.func @fp16_weight
// CHECK:         %[[CB:.*]] = memref.alloc(%{{.*}}) : memref<?xi8>
// CHECK:         %[[SCB:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_rowquant_f16 {{.*}} args(%{{.*}} : memref<?xf16>, %[[CB]] : memref<?xi8>, %[[SCB]] : memref<?xf32>
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_int8_generic_32x64_w2x2_dequant_f32_outliers
func.func @fp16_weight(%x: tensor<2x96xf32>, %w: tensor<32x96xf16>) -> tensor<2x32xf32> {
  %y = bnb.linear_int8 %x, %w {module = "m", threshold = 6.0 : f32, has_fp16_weight}
         : tensor<2x96xf32>, tensor<32x96xf16> -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}
