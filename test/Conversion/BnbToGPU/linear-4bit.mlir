// RUN: bnb-opt %s --split-input-file --convert-bnb-to-gpu | FileCheck %s

// Batch 1, f16: the tensor-core GEMV, one block per 16 output features, the
// tensors passed as 1-D buffers and the result returned through a fresh
// buffer.
// CHECK-LABEL: func.func @gemv_f16
// CHECK-DAG:     %[[X:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<4096xf16> to memref<4096xf16>
// CHECK-DAG:     %[[W:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<8388608xui8> to memref<8388608xui8>
// CHECK-DAG:     %[[OUT:.*]] = memref.alloc() : memref<1x4096xf16>
// CHECK-DAG:     %[[BLOCKS:.*]] = arith.constant 256 : index
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_gemv4_mma_nf4_f16_f16_n4096_k4096_b64_t1
// CHECK-SAME:      blocks in (%[[BLOCKS]],
// CHECK:         %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK:         return %[[R]]
// The kernel: 8 warps, shared memory for the cross-warp sum and for 32
// copies of the 256-entry byte table (each pair of codes built from the code
// book by two shuffles, stored 16 bytes at a time, then a barrier), 128-bit
// weight loads, one table load per byte of codes and no shuffle there,
// m16n8k16 tensor-core MMAs.
// CHECK:       gpu.module @bnb_kernels
// CHECK:         gpu.func @bnb_gemv4_mma_nf4_f16_f16_n4096_k4096_b64_t1(
// CHECK-SAME:      workgroup(%{{.*}} : memref<8x4x32xf32, #gpu.address_space<workgroup>>, %[[LUT:.*]] : memref<8192xi32, #gpu.address_space<workgroup>>)
// CHECK-SAME:      kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK:           memref.get_global @bnb_nf4_code_f16x2 : memref<16xi32>
// CHECK:           %[[HI:.*]], %{{.*}} = gpu.shuffle  idx %[[BOOK:.*]], %{{.*}}, %{{.*}} : i32
// CHECK:           %[[LO:.*]], %{{.*}} = gpu.shuffle  idx %[[BOOK]], %{{.*}}, %{{.*}} : i32
// CHECK:           %[[PAIR:.*]] = arith.ori %{{.*}}, %{{.*}} : i32
// CHECK:           %[[QUAD:.*]] = vector.broadcast %[[PAIR]] : i32 to vector<4xi32>
// CHECK:           vector.store %[[QUAD]], %[[LUT]][%{{.*}}] {alignment = 16 : i64}
// CHECK:           gpu.barrier
// CHECK:           vector.load %{{.*}} {alignment = 16 : i64} : memref<?xui8>, vector<16xui8>
// CHECK:           memref.load %[[LUT]][%{{.*}}] : memref<8192xi32, #gpu.address_space<workgroup>>
// CHECK-NOT:       gpu.shuffle
// CHECK:           arith.mulf %{{.*}} : vector<2xf16>
// CHECK:           nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK:           gpu.barrier
func.func @gemv_f16(%x: tensor<1x4096xf16>, %w: tensor<8388608x1xui8>, %a: tensor<262144xf32>) -> tensor<1x4096xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<262144xf32>)
         {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f16, shape = array<i64: 4096, 4096>}
         : tensor<1x4096xf16>, tensor<8388608x1xui8> -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}

// -----

// Double quantization and a bias: the absmax is rebuilt from the 8-bit code,
// the nested absmax and the offset (a kernel argument) with a multiply and a
// separate add; bf16 MMAs go through nvvm.mma.sync.
// CHECK-LABEL: func.func @gemv_bf16_dq
// CHECK:         %[[OFF:.*]] = arith.constant 2.500000e-01 : f32
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_gemv4_mma_nf4_bf16_bf16_n4096_k11008_b64_dq_bias_bf16_t2
// CHECK-SAME:      %[[OFF]] : f32
// CHECK:         gpu.func @bnb_gemv4_mma_nf4_bf16_bf16_n4096_k11008_b64_dq_bias_bf16_t2(
// CHECK:           %[[CODE:.*]] = memref.load %{{.*}} : memref<256xf32>
// CHECK:           %[[SCALED:.*]] = arith.mulf %[[CODE]], %{{.*}} : f32
// CHECK:           arith.addf %[[SCALED]], %{{.*}} : f32
// CHECK:           nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>
func.func @gemv_bf16_dq(%x: tensor<12x11008xbf16>, %w: tensor<22544384x1xui8>, %a: tensor<704512xui8>,
                        %na: tensor<2752xf32>, %b: tensor<4096xbf16>) -> tensor<12x4096xbf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<704512xui8>) nested(%na : tensor<2752xf32>) bias(%b : tensor<4096xbf16>)
         {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = bf16,
          shape = array<i64: 4096, 11008>, nested_offset = 0.25 : f32}
         : tensor<12x11008xbf16>, tensor<22544384x1xui8> -> tensor<12x4096xbf16>
  return %y : tensor<12x4096xbf16>
}

// -----

// f32 compute: bitsandbytes' SIMT GEMV, a warp per output feature, FMA
// accumulation and a shuffle-down reduction.
// CHECK-LABEL: func.func @gemv_f32
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_gemv4_simt_fp4_f32_f32_n4096_k4096_b64_r2
// CHECK:         gpu.func @bnb_gemv4_simt_fp4_f32_f32_n4096_k4096_b64_r2(
// CHECK-SAME:      known_block_size = array<i32: 128, 1, 1>
// CHECK:           memref.get_global @bnb_fp4_code : memref<16xf32>
// CHECK:           math.fma
// CHECK:           gpu.shuffle  down
func.func @gemv_f32(%x: tensor<2x4096xf32>, %w: tensor<8388608x1xui8>, %a: tensor<262144xf32>) -> tensor<2x4096xf32> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<262144xf32>)
         {module = "m", quant_type = #bnb.quant_type<fp4>, blocksize = 64 : i64, compute_dtype = f32, shape = array<i64: 4096, 4096>}
         : tensor<2x4096xf32>, tensor<8388608x1xui8> -> tensor<2x4096xf32>
  return %y : tensor<2x4096xf32>
}

// -----

// Larger batches: the tensor-core GEMM with dequantized tiles in shared
// memory, a 64 x 64 tile per block.
// CHECK-LABEL: func.func @gemm
// CHECK:         %[[GY:.*]] = arith.ceildivui %{{.*}}, %{{.*}} : index
// CHECK:         %[[GX:.*]] = arith.constant 64 : index
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_gemm4_mma_nf4_f16_f16_n4096_k4096_b64
// CHECK-SAME:      blocks in (%[[GX]], %[[GY]],
// CHECK:         gpu.func @bnb_gemm4_mma_nf4_f16_f16_n4096_k4096_b64(
// CHECK-SAME:      workgroup(%{{.*}} : memref<4608xf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<4608xf16, #gpu.address_space<workgroup>>)
// CHECK:           nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK:           nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]}
func.func @gemm(%x: tensor<2048x4096xf16>, %w: tensor<8388608x1xui8>, %a: tensor<262144xf32>) -> tensor<2048x4096xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<262144xf32>)
         {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f16, shape = array<i64: 4096, 4096>}
         : tensor<2048x4096xf16>, tensor<8388608x1xui8> -> tensor<2048x4096xf16>
  return %y : tensor<2048x4096xf16>
}

// -----

// A dynamic batch chooses the kernel at run time: GEMV with one or two n8
// tiles, or the GEMM; an empty batch launches nothing.
// CHECK-LABEL: func.func @dynamic
// CHECK:         %[[M0:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK:         %[[M:.*]] = arith.muli %[[M0]], %{{.*}} : index
// CHECK:         arith.cmpi ugt, %[[M]]
// CHECK:         scf.if
// CHECK:           arith.cmpi ule, %[[M]]
// CHECK:           scf.if
// CHECK:             gpu.launch_func @bnb_kernels::@bnb_gemv4_mma_{{.*}}_t1
// CHECK:           } else {
// CHECK:             scf.if
// CHECK:               gpu.launch_func @bnb_kernels::@bnb_gemv4_mma_{{.*}}_t2
// CHECK:             } else {
// CHECK:               gpu.launch_func @bnb_kernels::@bnb_gemm4_mma_
func.func @dynamic(%x: tensor<?x?x128xf16>, %w: tensor<2048x1xui8>, %a: tensor<64xf32>) -> tensor<?x?x32xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<64xf32>)
         {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f16, shape = array<i64: 32, 128>}
         : tensor<?x?x128xf16>, tensor<2048x1xui8> -> tensor<?x?x32xf16>
  return %y : tensor<?x?x32xf16>
}

// -----

// K not a multiple of 32: the generic kernel, one thread per output.
// CHECK-LABEL: func.func @odd
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_linear4_generic_nf4_f16_f16_n6_k40_b32
func.func @odd(%x: tensor<2x40xf16>, %w: tensor<120x1xui8>, %a: tensor<8xf32>) -> tensor<2x6xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>)
         {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 32 : i64, compute_dtype = f16, shape = array<i64: 6, 40>}
         : tensor<2x40xf16>, tensor<120x1xui8> -> tensor<2x6xf16>
  return %y : tensor<2x6xf16>
}
