// RUN: bnb-opt %s --split-input-file --bnb-gpu-device-memory --verify-diagnostics | FileCheck %s

module attributes {gpu.container_module} {
memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>

gpu.module @kernels {
  gpu.func @k(%a: memref<4xf32>, %b: memref<4xf32>) kernel {
    gpu.return
  }
}

// Allocations and frees move to the device, copies become gpu.memcpy, a
// constant global is read as it is (bnb-gpu-resident-constants gives it a
// device copy in the host lowering: no per-call upload), and the public
// function gets a C interface.
// CHECK-LABEL: func.func @host
// CHECK-SAME:    attributes {llvm.emit_c_interface}
// CHECK:         %[[BUF:.*]] = gpu.alloc () : memref<4xf32>
// CHECK-NEXT:    %[[G:.*]] = memref.get_global @table
// CHECK-NEXT:    gpu.launch_func @kernels::@k {{.*}} args(%[[G]] : memref<4xf32>, %[[BUF]] : memref<4xf32>)
// CHECK-NEXT:    %[[OUT:.*]] = gpu.alloc () : memref<4xf32>
// CHECK-NEXT:    gpu.memcpy %[[OUT]], %[[BUF]]
// CHECK-NEXT:    gpu.dealloc %[[BUF]]
// CHECK-NEXT:    return %[[OUT]]
func.func @host() -> memref<4xf32> {
  %c1 = arith.constant 1 : index
  %buf = memref.alloc() : memref<4xf32>
  %g = memref.get_global @table : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%g : memref<4xf32>, %buf : memref<4xf32>)
  %out = memref.alloc() : memref<4xf32>
  memref.copy %buf, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %buf : memref<4xf32>
  return %out : memref<4xf32>
}
}

// -----

// Host code reading a device buffer is rejected.
func.func @host_read(%a: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{'memref.load' op accesses device memory from host code; only kernels may read or write GPU buffers}}
  %v = memref.load %a[%c0] : memref<4xf32>
  return %v : f32
}

// -----

// So is host code reading a constant: constants live on the device.
memref.global "private" constant @scale : memref<1xf32> = dense<2.0>
func.func @host_read_constant() -> f32 {
  %c0 = arith.constant 0 : index
  %g = memref.get_global @scale : memref<1xf32>
  // expected-error @+1 {{'memref.load' op accesses device memory from host code; only kernels may read or write GPU buffers}}
  %v = memref.load %g[%c0] : memref<1xf32>
  return %v : f32
}

// -----

// Stack buffers stay on the host and may be accessed there.
// CHECK-LABEL: func.func @host_stack
// CHECK:         memref.alloca
// CHECK:         memref.store
func.func @host_stack(%v: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %s = memref.alloca() : memref<1xf32>
  memref.store %v, %s[%c0] : memref<1xf32>
  %r = memref.load %s[%c0] : memref<1xf32>
  return %r : f32
}

// -----

// A small integer argument that only the host reads (a generation step's
// position) is copied into a host buffer once at entry; the loads read the
// copy.
// CHECK-LABEL: func.func @host_position
// CHECK-SAME:    (%[[POS:.*]]: memref<1xi64>)
// CHECK-NEXT:    %[[HOST:.*]] = memref.alloca() : memref<1xi64>
// CHECK-NEXT:    gpu.memcpy %[[HOST]], %[[POS]] : memref<1xi64>, memref<1xi64>
// CHECK:         memref.load %[[HOST]]
// CHECK:         memref.load %[[HOST]]
// CHECK-NOT:     memref.load %[[POS]]
func.func @host_position(%pos: memref<1xi64>) -> index {
  %c0 = arith.constant 0 : index
  %a = memref.load %pos[%c0] : memref<1xi64>
  %b = memref.load %pos[%c0] : memref<1xi64>
  %s = arith.addi %a, %b : i64
  %r = arith.index_cast %s : i64 to index
  return %r : index
}

// -----

module attributes {gpu.container_module} {
gpu.module @kernels {
  gpu.func @k(%a: memref<1xi64>) kernel {
    gpu.return
  }
}

// An integer argument that a kernel also receives may change on the
// device during the call: the host may not read it.
func.func @host_and_kernel(%pos: memref<1xi64>) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%pos : memref<1xi64>)
  // expected-error @+1 {{'memref.load' op accesses device memory from host code; only kernels may read or write GPU buffers}}
  %v = memref.load %pos[%c0] : memref<1xi64>
  return %v : i64
}
}

// -----

module attributes {gpu.container_module} {
gpu.module @kernels {
  gpu.func @k(%a: memref<4xf32>) kernel {
    gpu.return
  }
}

// A generation step (it has a KV cache argument) frees its intermediates
// at the return, not after their last use: a free waits for the device.
// CHECK-LABEL: func.func @step
// CHECK:         %[[A:.*]] = gpu.alloc () : memref<4xf32>
// CHECK:         gpu.launch_func @kernels::@k {{.*}} args(%[[A]] : memref<4xf32>)
// CHECK:         %[[B:.*]] = gpu.alloc () : memref<4xf32>
// CHECK:         gpu.launch_func @kernels::@k {{.*}} args(%[[B]] : memref<4xf32>)
// CHECK-NEXT:    gpu.launch_func @kernels::@k {{.*}} args(%[[CACHE:.*]] : memref<4xf32>)
// CHECK-NEXT:    gpu.dealloc %[[A]]
// CHECK-NEXT:    gpu.dealloc %[[B]]
// CHECK-NEXT:    return
func.func @step(%cache: memref<4xf32> {bnb.kv_cache}) {
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<4xf32>)
  memref.dealloc %a : memref<4xf32>
  %b = memref.alloc() : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%b : memref<4xf32>)
  memref.dealloc %b : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%cache : memref<4xf32>)
  return
}

// Other functions free after the last use.
// CHECK-LABEL: func.func @not_a_step
// CHECK:         %[[A:.*]] = gpu.alloc () : memref<4xf32>
// CHECK-NEXT:    gpu.launch_func @kernels::@k {{.*}} args(%[[A]] : memref<4xf32>)
// CHECK-NEXT:    gpu.dealloc %[[A]]
// CHECK-NEXT:    gpu.launch_func
func.func @not_a_step(%x: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<4xf32>)
  memref.dealloc %a : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32>)
  return
}
}
