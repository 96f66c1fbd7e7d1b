// The LLM.int8() kernels in PTX for sm_80 and sm_90: row quantization with
// an IEEE division (div.rn, never div.approx), round-half-even conversion
// and atomic outlier marking; compaction with popc and shuffles; the int8
// GEMM with cp.async, ldmatrix, m16n8k32 s8 MMAs and the dequantization
// FMA with 1/127^2 (0f38820610). ptxas assembles every kernel.
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_80 format=isa" | %dump_gpu_binary > %t.sm80.ptx
// RUN: FileCheck %s < %t.sm80.ptx
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_90 format=isa" | %dump_gpu_binary > %t.sm90.ptx
// RUN: FileCheck %s < %t.sm90.ptx
// RUN: not grep -E "\.approx|\.ftz" %t.sm80.ptx %t.sm90.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t.sm80.ptx -o %t.sm80.cubin %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90 %t.sm90.ptx -o %t.sm90.cubin %}

// CHECK-LABEL: .entry bnb_compact_columns_32(
// CHECK:         popc.b32
// CHECK:         shfl.sync.up.b32
// CHECK:         bar.sync
// CHECK-LABEL: .entry bnb_int8_gemm_128x128_w2x4_dequant_f16_bias_f16_outliers(
// CHECK:         cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, %r{{[0-9]+}};
// CHECK:         cp.async.commit_group;
// CHECK:         cp.async.wait_group 1;
// CHECK:         ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK:         mma.sync.aligned.m16n8k32.row.col.satfinite.s32.s8.s8.s32
// CHECK:         fma.rn.f32 %r{{[0-9]+}}, %r{{[0-9]+}}, 0f38820610, %r{{[0-9]+}};
// CHECK:         cvt.rn.f16.f32
// CHECK-LABEL: .entry bnb_int8_gemm_32x64_w2x2_dequant_bf16(
// CHECK:         mma.sync.aligned.m16n8k32.row.col.satfinite.s32.s8.s8.s32
// CHECK:         fma.rn.f32 %r{{[0-9]+}}, %r{{[0-9]+}}, 0f38820610, 0f00000000;
// CHECK-LABEL: .entry bnb_rowquant_bf16(
// CHECK:         shfl.sync.bfly.b32
// CHECK:         rcp.rn.f32 [[INV:%r[0-9]+]],
// CHECK:         mul.rn.f32 %r{{[0-9]+}}, [[INV]], 0f42FE0000;
// CHECK:         cvt.rni.f32.f32
// CHECK-LABEL: .entry bnb_rowquant_f16_outliers(
// CHECK:         atom.global.or.b32
// CHECK:         shfl.sync.bfly.b32
// CHECK:         rcp.rn.f32 [[INV:%r[0-9]+]],
// CHECK:         mul.rn.f32 %r{{[0-9]+}}, [[INV]], 0f42FE0000;
// CHECK:         cvt.rni.f32.f32
func.func @forward(%x: tensor<2048x4096xf16>, %w: tensor<4096x4096xi8>, %s: tensor<4096xf32>, %b: tensor<4096xf16>,
                   %x2: tensor<1x4096xbf16>, %w2: tensor<11008x4096xi8>, %s2: tensor<11008xf32>)
    -> (tensor<2048x4096xf16>, tensor<1x11008xbf16>) {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<4096xf32>) bias(%b : tensor<4096xf16>) {module = "q", threshold = 6.0 : f32}
         : tensor<2048x4096xf16>, tensor<4096x4096xi8> -> tensor<2048x4096xf16>
  %y2 = bnb.linear_int8 %x2, %w2 scb(%s2 : tensor<11008xf32>) {module = "up", threshold = 0.0 : f32}
         : tensor<1x4096xbf16>, tensor<11008x4096xi8> -> tensor<1x11008xbf16>
  return %y, %y2 : tensor<2048x4096xf16>, tensor<1x11008xbf16>
}
