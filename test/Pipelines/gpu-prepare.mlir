// bnb-gpu-prepare is the device half of bnb-lower-to-nvvm, registered on its
// own so that bnb-gpu-sim runs the kernels the compiler ships: the same
// passes with the same options, up to the lowering to LLVM and NVVM.

// RUN: bnb-opt --help | FileCheck %s --check-prefix=HELP
// HELP:      --bnb-gpu-prepare
// HELP-NEXT:   --chip=<string>
// HELP-NEXT:   --externalize-weights

// RUN: bnb-opt %s --bnb-gpu-prepare=chip=sm_80 --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefixes=PIPE,PREP
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_80 format=isa" --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefixes=PIPE,NVVM
// PIPE:      builtin.module(
// PIPE-NEXT:   bnb-externalize-weights,
// PIPE-NEXT:   bnb-prepare-entry-points,
// PIPE-NEXT:   bnb-outline-layers{inline=true},
// PIPE-NEXT:   convert-bnb-to-gpu{chip=sm_80},
// PIPE:        convert-elementwise-to-linalg
// PIPE:        linalg-fuse-elementwise-ops
// PIPE:        one-shot-bufferize{
// PIPE:        buffer-results-to-out-params{
// PIPE:        convert-parallel-loops-to-gpu
// PIPE:        gpu-kernel-outlining
// PIPE:        bnb-gpu-device-memory{
// PIPE-NEXT:   canonicalize{
// PIPE-NEXT:   cse
// PREP-NOT:    nvvm
// NVVM:        convert-nvgpu-to-nvvm

// RUN: bnb-opt %s --bnb-gpu-prepare=externalize-weights=false --dump-pass-pipeline -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOEXT
// NOEXT:     builtin.module(
// NOEXT-NEXT:  bnb-prepare-entry-points,

// The result: an entry point with the C interface writing its result into a
// caller-provided buffer, launching the fused 4-bit kernel and the mapped
// graph; kernels stay in the GPU dialect.
// RUN: bnb-opt %s --bnb-gpu-prepare | FileCheck %s
// CHECK-LABEL: func.func @forward(
// CHECK-SAME:    %{{.*}}: memref<6x64xf32>, %{{.*}}: memref<1536x1xui8>, %{{.*}}: memref<48xf32>, %[[OUT:.*]]: memref<6x48xf32>)
// CHECK-SAME:    attributes {llvm.emit_c_interface}
// CHECK:         gpu.launch_func @bnb_kernels::@bnb_gemv4_simt_nf4_f32_f32_n48_k64_b64_r6
// CHECK:         gpu.launch_func @forward_kernel::@forward_kernel {{.*}}%[[OUT]] : memref<6x48xf32>)
// CHECK:       gpu.module @forward_kernel
// CHECK:         gpu.func @forward_kernel(
// CHECK:           math.tanh
// CHECK:       gpu.module @bnb_kernels
// CHECK-NOT:   llvm.func
// CHECK-NOT:   gpu.binary

#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @forward(%x: tensor<6x64xf32>, %w: tensor<1536x1xui8>, %a: tensor<48xf32>) -> tensor<6x48xf32> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<48xf32>)
         {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f32, shape = array<i64: 48, 64>}
         : tensor<6x64xf32>, tensor<1536x1xui8> -> tensor<6x48xf32>
  %e = tensor.empty() : tensor<6x48xf32>
  %z = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<6x48xf32>) outs(%e : tensor<6x48xf32>) {
  ^bb0(%v: f32, %o: f32):
    %t = math.tanh %v : f32
    linalg.yield %t : f32
  } -> tensor<6x48xf32>
  return %z : tensor<6x48xf32>
}
