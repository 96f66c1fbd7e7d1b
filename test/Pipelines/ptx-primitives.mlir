// The kernels of the primitive ops in PTX: IEEE reciprocals (rcp.rn) and
// warp shuffles in the blockwise quantizers, plain f32 multiplies (no FMA)
// in the dequantizers, the int8_mm_dequant FMA. ptxas assembles them all.
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_80 format=isa" | %dump_gpu_binary > %t.sm80.ptx
// RUN: FileCheck %s < %t.sm80.ptx
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_90 format=isa" | %dump_gpu_binary > %t.sm90.ptx
// RUN: FileCheck %s < %t.sm90.ptx
// RUN: not grep -E "\.approx|\.ftz" %t.sm80.ptx %t.sm90.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t.sm80.ptx -o %t.sm80.cubin %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90 %t.sm90.ptx -o %t.sm90.cubin %}

// CHECK-LABEL: .entry bnb_dequantize_4bit_nf4_f16_b64(
// CHECK:         mul.rn.f32
// CHECK-NOT:     fma.rn
// CHECK:         cvt.rn.f16.f32
// CHECK-LABEL: .entry bnb_dequantize_blockwise_f32_b256(
// CHECK-NOT:     fma.rn
// CHECK:         mul.rn.f32
// CHECK-LABEL: .entry bnb_dequantize_int8(
// CHECK:         cvt.rn.f32.s32
// CHECK:         mul.rn.f32
// CHECK:         mul.rn.f32
// CHECK:         fma.rn.f32 %r{{[0-9]+}}, %r{{[0-9]+}}, 0f38820610, 0f00000000;
// CHECK-LABEL: .entry bnb_int8_gemm_128x128_w2x4_i32(
// CHECK:         mma.sync.aligned.m16n8k32.row.col.satfinite.s32.s8.s8.s32
// CHECK-LABEL: .entry bnb_outlier_flags_f16(
// CHECK:         atom.global.or.b32
// CHECK-LABEL: .entry bnb_quantize_4bit_nf4_bf16_b64(
// CHECK:         shfl.sync.bfly.b32
// CHECK:         rcp.rn.f32
// CHECK-LABEL: .entry bnb_quantize_blockwise_f32_b256(
// CHECK:         shfl.sync.bfly.b32
// CHECK:         rcp.rn.f32
// CHECK-LABEL: .entry bnb_zero_columns(
func.func @forward(%w: tensor<4096x64xbf16>, %p: tensor<131072x1xui8>, %a: tensor<4096xf32>,
                   %x: tensor<1024xf32>, %q: tensor<1024xui8>, %qa: tensor<4xf32>,
                   %h: tensor<16x64xf16>, %i: tensor<64x128xi8>, %j: tensor<32x128xi8>,
                   %rs: tensor<64xf32>, %cs: tensor<32xf32>)
    -> (tensor<131072x1xui8>, tensor<4096xf32>, tensor<4096x64xf16>, tensor<1024xui8>, tensor<4xf32>,
        tensor<1024xf32>, tensor<16x64xi8>, tensor<16xf32>, tensor<?xi64>, tensor<16x?xf16>, tensor<64x32xf16>) {
  %p2, %a2 = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64}
               : tensor<4096x64xbf16> -> tensor<131072x1xui8>, tensor<4096xf32>
  %d = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64}
         : tensor<131072x1xui8>, tensor<4096xf32> -> tensor<4096x64xf16>
  %q2, %qa2 = bnb.quantize_blockwise %x {blocksize = 256 : i64} : tensor<1024xf32> -> tensor<1024xui8>, tensor<4xf32>
  %x2 = bnb.dequantize_blockwise %q, %qa {blocksize = 256 : i64} : tensor<1024xui8>, tensor<4xf32> -> tensor<1024xf32>
  %r, %st = bnb.quantize_rowwise %h {threshold = 6.0 : f32} : tensor<16x64xf16> -> tensor<16x64xi8>, tensor<16xf32>
  %c, %o = bnb.outlier_split %h {threshold = 6.0 : f32} : tensor<16x64xf16> -> tensor<?xi64>, tensor<16x?xf16>
  %m = bnb.int8_matmul %i, %j : tensor<64x128xi8>, tensor<32x128xi8> -> tensor<64x32xi32>
  %y = bnb.dequantize_int8 %m, %rs, %cs : tensor<64x32xi32>, tensor<64xf32>, tensor<32xf32> -> tensor<64x32xf16>
  return %p2, %a2, %d, %q2, %qa2, %x2, %r, %st, %c, %o, %y
    : tensor<131072x1xui8>, tensor<4096xf32>, tensor<4096x64xf16>, tensor<1024xui8>, tensor<4xf32>,
      tensor<1024xf32>, tensor<16x64xi8>, tensor<16xf32>, tensor<?xi64>, tensor<16x?xf16>, tensor<64x32xf16>
}
