// Barriers must be reached by every thread of the block, and warp
// collectives by every lane of the warp.

// RUN: split-file %s %t
// RUN: not bnb-gpu-sim %t/barrier.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BARRIER
// RUN: not bnb-gpu-sim %t/loop.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=LOOP
// RUN: not bnb-gpu-sim %t/shuffle.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=SHUFFLE

// BARRIER: barrier.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'gpu.barrier': divergent barrier: 1 of 64 threads reach it, thread (1,0,0) does not
// A barrier in a loop whose trip count differs between threads.
// LOOP: loop.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'gpu.barrier': divergent barrier: 63 of 64 threads reach it, thread (0,0,0) does not
// SHUFFLE: shuffle.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'gpu.shuffle': warp-collective operation in a divergent warp

//--- barrier.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<8xi32>) kernel {
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %first = arith.cmpi eq, %tid, %c0 : index
      scf.if %first {
        gpu.barrier
      }
      gpu.return
    }
  }
  func.func @main(%out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%out : memref<8xi32>)
    return
  }
}

//--- loop.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<8xi32>) kernel {
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      scf.for %i = %c0 to %tid step %c1 {
        gpu.barrier
      }
      gpu.return
    }
  }
  func.func @main(%out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%out : memref<8xi32>)
    return
  }
}

//--- shuffle.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<8xi32>) kernel {
      %tid = gpu.thread_id x
      %c16 = arith.constant 16 : index
      %c1 = arith.constant 1 : i32
      %c32 = arith.constant 32 : i32
      %low = arith.cmpi ult, %tid, %c16 : index
      scf.if %low {
        %v, %ok = gpu.shuffle xor %c1, %c1, %c32 : i32
      }
      gpu.return
    }
  }
  func.func @main(%out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c32, %c1, %c1) args(%out : memref<8xi32>)
    return
  }
}
