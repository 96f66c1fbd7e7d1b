// The 4-bit tensor-core GEMM (larger batches) in PTX: dequantized tiles in
// shared memory, ldmatrix.x4 fragments, m16n8k16 MMAs; ptxas assembles it.
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_80 format=isa" | %dump_gpu_binary > %t.sm80.ptx
// RUN: FileCheck %s < %t.sm80.ptx
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_90 format=isa" | %dump_gpu_binary > %t.sm90.ptx
// RUN: FileCheck %s < %t.sm90.ptx
// RUN: not grep -E "\.approx|\.ftz" %t.sm80.ptx %t.sm90.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t.sm80.ptx -o %t.sm80.cubin %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90 %t.sm90.ptx -o %t.sm90.cubin %}

// CHECK-LABEL: .entry bnb_gemm4_mma_fp4_bf16_bf16_n11008_k4096_b64_dq(
// CHECK:         ld.global{{(\.nc)?}}.v4.{{[bu]}}32
// CHECK:         shfl.sync.idx.b32
// CHECK:         cvt.rn.bf16x2.f32
// CHECK:         bar.sync
// CHECK:         ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK:         mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-LABEL: .entry bnb_gemm4_mma_nf4_f16_f16_n4096_k4096_b64_bias_f16(
// CHECK:         ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK:         mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
func.func @forward(%x: tensor<2048x4096xf16>, %w: tensor<8388608x1xui8>, %a: tensor<262144xf32>,
                   %b: tensor<4096xf16>, %x2: tensor<64x4096xbf16>, %w2: tensor<22544384x1xui8>,
                   %a2: tensor<704512xui8>, %na2: tensor<2752xf32>)
    -> (tensor<2048x4096xf16>, tensor<64x11008xbf16>) {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<262144xf32>) bias(%b : tensor<4096xf16>)
         {module = "q", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f16, shape = array<i64: 4096, 4096>}
         : tensor<2048x4096xf16>, tensor<8388608x1xui8> -> tensor<2048x4096xf16>
  %y2 = bnb.linear_4bit %x2, %w2 absmax(%a2 : tensor<704512xui8>) nested(%na2 : tensor<2752xf32>)
         {module = "up", quant_type = #bnb.quant_type<fp4>, blocksize = 64 : i64, compute_dtype = bf16,
          shape = array<i64: 11008, 4096>, nested_offset = 0.03 : f32}
         : tensor<64x4096xbf16>, tensor<22544384x1xui8> -> tensor<64x11008xbf16>
  return %y, %y2 : tensor<2048x4096xf16>, tensor<64x11008xbf16>
}
