// Exercises every host-side call of the GPU dialect that gpu-to-llvm lowers
// to an mgpu* function: stream/event handling of async tokens, alloc (device
// and host-shared), memcpy, memset (32- and 16-bit), dealloc, launch, host
// (un)registration, and the JIT module load of a PTX (format=isa) binary.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%a: memref<?xf32>, %s: f32) kernel {
      %i = gpu.thread_id x
      %v = memref.load %a[%i] : memref<?xf32>
      %r = arith.mulf %v, %s : f32
      memref.store %r, %a[%i] : memref<?xf32>
      gpu.return
    }
  }
  func.func @main(%h: memref<?xf32>, %n: index, %hs: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    %f = arith.constant 2.0 : f32
    %z = arith.constant 0.0 : f32
    %zi = arith.constant 0 : i16
    %t0 = gpu.wait async
    %d, %t1 = gpu.alloc async [%t0] (%n) : memref<?xf32>
    %t2 = gpu.memcpy async [%t1] %d, %h : memref<?xf32>, memref<?xf32>
    %t3 = gpu.memset async [%t2] %d, %z : memref<?xf32>, f32
    %di, %t4 = gpu.alloc async [%t3] (%n) : memref<?xi16>
    %t5 = gpu.memset async [%t4] %di, %zi : memref<?xi16>, i16
    %t6 = gpu.launch_func async [%t5] @kernels::@scale
        blocks in (%c1, %c1, %c1) threads in (%n, %c1, %c1)
        args(%d : memref<?xf32>, %f : f32)
    %t7 = gpu.memcpy async [%t6] %h, %d : memref<?xf32>, memref<?xf32>
    %t8 = gpu.dealloc async [%t7] %d : memref<?xf32>
    %t9 = gpu.dealloc async [%t8] %di : memref<?xi16>
    // Joining two streams goes through events.
    %e1 = gpu.wait async
    %da, %e2 = gpu.alloc async [%e1] (%n) : memref<?xf32>
    %e3 = gpu.dealloc async [%e2] %da : memref<?xf32>
    %t10 = gpu.wait async [%t9, %e3]
    gpu.wait [%t10]
    %u = memref.cast %hs : memref<?xf32> to memref<*xf32>
    gpu.host_register %u : memref<*xf32>
    gpu.host_unregister %u : memref<*xf32>
    %dh = gpu.alloc host_shared (%n) : memref<?xf32>
    %q0 = gpu.wait async
    %q1 = gpu.dealloc async [%q0] %dh : memref<?xf32>
    gpu.wait [%q1]
    return
  }
  // A token that does not come from a stream in this function is an event.
  func.func @join(%token: !gpu.async.token) {
    gpu.wait [%token]
    return
  }
}
