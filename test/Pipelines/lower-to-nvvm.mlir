// The whole pipeline: host code in the LLVM dialect calling the mgpu*
// runtime ABI on one stream, kernels (bnb's and the mapped linalg graph) in
// one gpu.binary per gpu.module, and the artifact calling convention: a C
// interface taking the inputs, the weights and then the results as device
// memref descriptors (the result is written in place, no copy).
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_90 format=isa" | FileCheck %s
// RUN: bnb-opt %s --bnb-lower-to-nvvm="chip=sm_80 format=isa" -o %t.mlir
// RUN: %dump_gpu_binary %t.mlir --binary bnb_kernels -o %t.bnb.ptx
// RUN: %dump_gpu_binary %t.mlir --binary forward_kernel -o %t.graph.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t.bnb.ptx -o %t.bnb.cubin %}
// RUN: %if ptxas %{ %ptxas -arch=sm_80 %t.graph.ptx -o %t.graph.cubin %}
// RUN: %if ptxas %{ bnb-opt %s --bnb-lower-to-nvvm="chip=sm_80 format=bin" | FileCheck %s --check-prefix=BIN %}

// CHECK-LABEL: llvm.func @forward(
// CHECK-SAME:    attributes {llvm.emit_c_interface}
// CHECK:         %[[STREAM:.*]] = llvm.call @mgpuStreamCreate()
// CHECK:         llvm.call @mgpuMemAlloc(%{{.*}}, %[[STREAM]], %{{.*}}) : (i64, !llvm.ptr, i8) -> !llvm.ptr
// CHECK:         gpu.launch_func <%[[STREAM]] : !llvm.ptr> @bnb_kernels::@bnb_gemv4_simt_nf4_f32_f32_n48_k64_b64_r6
// CHECK:         gpu.launch_func <%[[STREAM]] : !llvm.ptr> @forward_kernel{{.*}}::@forward_kernel
// CHECK:         llvm.call @mgpuMemFree(%{{.*}}, %[[STREAM]])
// CHECK:         llvm.call @mgpuStreamSynchronize(%[[STREAM]])
// CHECK:         llvm.call @mgpuStreamDestroy(%[[STREAM]])
// CHECK-NOT:     mgpuMemcpy
// CHECK:       llvm.func @_mlir_ciface_forward(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) attributes {llvm.emit_c_interface} {
// CHECK-DAG:   gpu.binary @forward_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// CHECK-DAG:   gpu.binary @bnb_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, assembly = "
// BIN:         gpu.binary @bnb_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
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
