// Data races on workgroup memory: an access by one thread conflicts with a
// write (or, for a write, any access) by another thread since the last
// gpu.barrier. The block runs in lockstep, so without the check each of
// these kernels would happen to compute the intended result.

// RUN: split-file %s %t
// RUN: bnb-gpu-sim %t/barrier.mlir --entry main --output %t/ok.npy
// RUN: %python -c "import numpy; print(numpy.load('%t/ok.npy').tolist())" \
// RUN:   | FileCheck %s --check-prefix=OK
// RUN: not bnb-gpu-sim %t/read-after-write.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=RAW
// RUN: not bnb-gpu-sim %t/write-after-read.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=WAR
// RUN: not bnb-gpu-sim %t/write-after-write.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=WAW
// RUN: not bnb-gpu-sim %t/atomic.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ATOMIC
// RUN: not bnb-gpu-sim %t/same-warp.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=WARP
// RUN: not bnb-gpu-sim %t/next-block.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BLOCK

// Each thread reads its neighbour's element after a barrier: no race.
// OK: [1, 0]

// RAW: read-after-write.mlir:9:12: error: bnb-gpu-sim: kernel @swap, block (0,0,0): 'memref.load': thread (0,0,0): data race: reads byte 4 of workgroup buffer 0 written by thread (1,0,0) with no barrier between
// WAR: write-after-read.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @swap, block (0,0,0): 'memref.store': thread (0,0,0): data race: writes byte 0 of workgroup buffer 0 read by thread (1,0,0) with no barrier between
// WAW: write-after-write.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @same, block (0,0,0): 'memref.store': thread (1,0,0): data race: writes byte 0 of workgroup buffer 0 written by thread (0,0,0) with no barrier between
// ATOMIC: atomic.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @count, block (0,0,0): 'memref.load': thread (0,0,0): data race: reads byte 0 of workgroup buffer 0 atomically updated by several threads with no barrier between
// Lanes of one warp are not ordered without a barrier (independent thread
// scheduling since Volta).
// WARP: same-warp.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @swap, block (0,0,0): 'memref.load': thread (0,0,0): data race: reads byte 4 of workgroup buffer 0 written by thread (1,0,0) with no barrier between
// Workgroup memory is private to a block and its phases start afresh, but
// the second block races as the first.
// BLOCK: next-block.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @swap, block (1,0,0): 'memref.load': thread (0,0,0): data race

//--- barrier.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @swap(%out: memref<2xi32>) workgroup(%tile: memref<2xi32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %v = arith.index_cast %tid : index to i32
      memref.store %v, %tile[%tid] : memref<2xi32, #gpu.address_space<workgroup>>
      gpu.barrier
      %other = arith.xori %tid, %c1 : index
      %w = memref.load %tile[%other] : memref<2xi32, #gpu.address_space<workgroup>>
      memref.store %w, %out[%tid] : memref<2xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<2xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@swap blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%out : memref<2xi32>)
    return
  }
}

//--- read-after-write.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @swap(%out: memref<2xi32>) workgroup(%tile: memref<2xi32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %v = arith.index_cast %tid : index to i32
      memref.store %v, %tile[%tid] : memref<2xi32, #gpu.address_space<workgroup>>
      %other = arith.xori %tid, %c1 : index
      %w = memref.load %tile[%other] : memref<2xi32, #gpu.address_space<workgroup>>
      memref.store %w, %out[%tid] : memref<2xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<2xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@swap blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%out : memref<2xi32>)
    return
  }
}

//--- write-after-read.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @swap(%out: memref<2xi32>) workgroup(%tile: memref<2xi32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %v = arith.index_cast %tid : index to i32
      memref.store %v, %tile[%tid] : memref<2xi32, #gpu.address_space<workgroup>>
      gpu.barrier
      %other = arith.xori %tid, %c1 : index
      %w = memref.load %tile[%other] : memref<2xi32, #gpu.address_space<workgroup>>
      // Overwrites what the neighbour has just read: a second barrier is
      // missing.
      memref.store %w, %tile[%tid] : memref<2xi32, #gpu.address_space<workgroup>>
      memref.store %w, %out[%tid] : memref<2xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<2xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@swap blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%out : memref<2xi32>)
    return
  }
}

//--- write-after-write.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // Every thread stores to element 0, even the same value: a race.
    gpu.func @same(%out: memref<2xi32>) workgroup(%tile: memref<2xi32, #gpu.address_space<workgroup>>) kernel {
      %c0 = arith.constant 0 : index
      %c7 = arith.constant 7 : i32
      memref.store %c7, %tile[%c0] : memref<2xi32, #gpu.address_space<workgroup>>
      gpu.return
    }
  }
  func.func @main(%out: memref<2xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@same blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%out : memref<2xi32>)
    return
  }
}

//--- atomic.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // Atomic updates do not race with each other, but reading the counter
    // before a barrier does.
    gpu.func @count(%out: memref<2xi32>) workgroup(%tile: memref<2xi32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : i32
      %old = memref.atomic_rmw addi %c1, %tile[%c0] : (i32, memref<2xi32, #gpu.address_space<workgroup>>) -> i32
      %n = memref.load %tile[%c0] : memref<2xi32, #gpu.address_space<workgroup>>
      memref.store %n, %out[%tid] : memref<2xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<2xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@count blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%out : memref<2xi32>)
    return
  }
}

//--- same-warp.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // 32 threads, one warp: each reads its xor-1 neighbour's element.
    gpu.func @swap(%out: memref<32xi32>) workgroup(%tile: memref<32xi32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %v = arith.index_cast %tid : index to i32
      memref.store %v, %tile[%tid] : memref<32xi32, #gpu.address_space<workgroup>>
      %other = arith.xori %tid, %c1 : index
      %w = memref.load %tile[%other] : memref<32xi32, #gpu.address_space<workgroup>>
      memref.store %w, %out[%tid] : memref<32xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<32xi32>) {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    gpu.launch_func @kernels::@swap blocks in (%c1, %c1, %c1) threads in (%c32, %c1, %c1) args(%out : memref<32xi32>)
    return
  }
}

//--- next-block.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // Block 0 skips the exchange; block 1 does it without a barrier.
    gpu.func @swap(%out: memref<2xi32>) workgroup(%tile: memref<2xi32, #gpu.address_space<workgroup>>) kernel {
      %tid = gpu.thread_id x
      %bid = gpu.block_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %v = arith.index_cast %tid : index to i32
      memref.store %v, %tile[%tid] : memref<2xi32, #gpu.address_space<workgroup>>
      %second = arith.cmpi eq, %bid, %c1 : index
      scf.if %second {
        %other = arith.xori %tid, %c1 : index
        %w = memref.load %tile[%other] : memref<2xi32, #gpu.address_space<workgroup>>
        memref.store %w, %out[%tid] : memref<2xi32>
      }
      gpu.return
    }
  }
  func.func @main(%out: memref<2xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@swap blocks in (%c2, %c1, %c1) threads in (%c2, %c1, %c1) args(%out : memref<2xi32>)
    return
  }
}
