// A prebuilt cubin (format=bin: mgpuModuleLoad with its size), the default
// device and dynamic shared memory.
module attributes {gpu.container_module} {
  gpu.binary @kernels [#gpu.object<#nvvm.target<chip = "sm_90">, bin = "not a real cubin">]
  func.func @main(%dev: i32, %smem: i32) {
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    gpu.set_default_device %dev
    %t0 = gpu.wait async
    %t1 = gpu.launch_func async [%t0] @kernels::@noop
        blocks in (%c4, %c1, %c1)
        threads in (%c1, %c1, %c1) dynamic_shared_memory_size %smem
    gpu.wait [%t1]
    return
  }
}
