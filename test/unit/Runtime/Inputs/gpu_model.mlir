// A GPU "model" linked against libbnb_runtime alone: its kernels are loaded
// by a global constructor when the program starts; run() fills a device
// buffer with a kernel and copies it back into `out`.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @fill(%a: memref<16xf32>, %v: f32) kernel {
      %i = gpu.thread_id x
      memref.store %v, %a[%i] : memref<16xf32>
      gpu.return
    }
  }
  func.func @run(%out: memref<16xf32>) attributes {llvm.emit_c_interface} {
    %c1 = arith.constant 1 : index
    %c16 = arith.constant 16 : index
    %v = arith.constant 3.5 : f32
    %t0 = gpu.wait async
    %d, %t1 = gpu.alloc async [%t0] () : memref<16xf32>
    %t2 = gpu.launch_func async [%t1] @kernels::@fill
        blocks in (%c1, %c1, %c1) threads in (%c16, %c1, %c1)
        args(%d : memref<16xf32>, %v : f32)
    %t3 = gpu.memcpy async [%t2] %out, %d : memref<16xf32>, memref<16xf32>
    %t4 = gpu.dealloc async [%t3] %d : memref<16xf32>
    gpu.wait [%t4]
    return
  }
}
