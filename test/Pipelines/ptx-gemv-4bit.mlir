// The 4-bit GEMV kernels in PTX for sm_80 and sm_90: 128-bit weight loads,
// the byte table in shared memory (built by shuffles from the code book,
// then one shared load per byte of codes), f16x2/bf16x2
// weight scaling, m16n8k16 tensor-core
// MMAs, and no approximate division anywhere; ptxas assembles them.
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_80 format=isa" | %dump_gpu_binary > %t.sm80.ptx
// RUN: FileCheck %s --check-prefixes=PTX,SM80 < %t.sm80.ptx
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_90 format=isa" | %dump_gpu_binary > %t.sm90.ptx
// RUN: FileCheck %s --check-prefixes=PTX,SM90 < %t.sm90.ptx
// RUN: not grep -E "\.approx|\.ftz" %t.sm80.ptx %t.sm90.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t.sm80.ptx -o %t.sm80.cubin %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90 %t.sm90.ptx -o %t.sm90.cubin %}

// SM80: .target sm_80
// SM90: .target sm_90

// PTX-LABEL: .entry bnb_gemv4_mma_nf4_bf16_bf16_n4096_k11008_b64_dq_bias_bf16_t1(
// The nested absmax: a multiply and a separate add, never contracted.
// PTX:         mul.rn.f32
// PTX-NEXT:    add.rn.f32
// SM80:        fma.rn.bf16x2
// SM90:        mul.rn.bf16x2
// PTX:         mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-LABEL: .entry bnb_gemv4_mma_nf4_f16_f16_n4096_k4096_b64_t1(
// PTX:         shfl.sync.idx.b32
// PTX:         shfl.sync.idx.b32
// PTX:         st.shared.v4.b32
// PTX:         bar.sync
// PTX:         ld.global{{(\.nc)?}}.v4.{{[bu]}}32
// PTX-NOT:     shfl.sync
// PTX:         ld.shared.b32 [[CODES:%r[0-9]+]],
// PTX-NEXT:    mul.rn.f16x2 {{%r[0-9]+}}, {{%r[0-9]+}}, [[CODES]];
// PTX:         mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX:         bar.sync
// PTX-NOT:     fma.rn.f32
// PTX-LABEL: .entry bnb_gemv4_simt_nf4_f32_f32_n11008_k4096_b64_r1(
// PTX:         ld.global{{(\.nc)?}}.v4.{{[bu]}}32
// PTX:         fma.rn.f32
// PTX:         shfl.sync.down.b32
func.func @forward(%x: tensor<1x4096xf16>, %w: tensor<8388608x1xui8>, %a: tensor<262144xf32>,
                   %x2: tensor<1x11008xbf16>, %w2: tensor<22544384x1xui8>, %a2: tensor<704512xui8>,
                   %na2: tensor<2752xf32>, %b2: tensor<4096xbf16>,
                   %x3: tensor<1x4096xf32>, %w3: tensor<22544384x1xui8>, %a3: tensor<704512xf32>)
    -> (tensor<1x4096xf16>, tensor<1x4096xbf16>, tensor<1x11008xf32>) {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<262144xf32>)
         {module = "q", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f16, shape = array<i64: 4096, 4096>}
         : tensor<1x4096xf16>, tensor<8388608x1xui8> -> tensor<1x4096xf16>
  %y2 = bnb.linear_4bit %x2, %w2 absmax(%a2 : tensor<704512xui8>) nested(%na2 : tensor<2752xf32>) bias(%b2 : tensor<4096xbf16>)
         {module = "down", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = bf16,
          shape = array<i64: 4096, 11008>, nested_offset = 0.03 : f32}
         : tensor<1x11008xbf16>, tensor<22544384x1xui8> -> tensor<1x4096xbf16>
  %y3 = bnb.linear_4bit %x3, %w3 absmax(%a3 : tensor<704512xf32>)
         {module = "up", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f32, shape = array<i64: 11008, 4096>}
         : tensor<1x4096xf32>, tensor<22544384x1xui8> -> tensor<1x11008xf32>
  return %y, %y2, %y3 : tensor<1x4096xf16>, tensor<1x4096xbf16>, tensor<1x11008xf32>
}
