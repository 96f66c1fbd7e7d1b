// Asynchronous copies (nvgpu.device_async_copy, cp.async) land in workgroup
// memory only when nvgpu.device_async_wait retires their group; reading the
// destination earlier is a missing wait, not stale or lucky data.

// RUN: split-file %s %t
// RUN: bnb-gpu-sim %t/ok.mlir --entry main --output %t/s.npy --output %t/ok.npy
// RUN: %python -c "import numpy; print(numpy.load('%t/ok.npy').tolist())" \
// RUN:   | FileCheck %s --check-prefix=OK
// RUN: not bnb-gpu-sim %t/missing-wait.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=MISSING
// RUN: not bnb-gpu-sim %t/wait-count.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=COUNT
// RUN: not bnb-gpu-sim %t/no-barrier.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOBARRIER
// RUN: not bnb-gpu-sim %t/overwrite-read.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=WAR
// RUN: not bnb-gpu-sim %t/overlap.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=OVERLAP
// RUN: not bnb-gpu-sim %t/bad-count.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BADCOUNT
// RUN: not bnb-gpu-sim %t/not-workgroup.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOTWG
// RUN: not bnb-gpu-sim %t/host.mlir --entry main --output %t/s.npy --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=HOST
// Host code may commit and wait for groups, which are empty there.
// RUN: bnb-gpu-sim %t/host-groups.mlir --entry main --output %t/s.npy --output %t/o.npy

// Thread 0 copies src[0:4], thread 1 src[4:6] zero-filled to four elements;
// after the wait and a barrier each reads the other's.
// OK: [14, 15, 0, 0, 10, 11, 12, 13]

// MISSING: missing-wait.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @copy, block (0,0,0): 'vector.load': thread (0,0,0): reads byte 0 of workgroup buffer 0 before the asynchronous copy to it by thread (0,0,0) landed (missing wait)
// Waiting with one group allowed in flight lands the older group only.
// COUNT: wait-count.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @copy, block (0,0,0): 'vector.load': thread (0,0,0): reads byte 16 of workgroup buffer 0 before the asynchronous copy to it by thread (0,0,0) landed (missing wait)
// COUNT-NEXT: %second = vector.load
// A landed copy is a write of the thread that waited for it.
// NOBARRIER: no-barrier.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @copy, block (0,0,0): 'vector.load': thread (0,0,0): data race: reads byte 16 of workgroup buffer 0 written by thread (1,0,0) with no barrier between
// A copy issued into what another thread reads in the same phase.
// WAR: overwrite-read.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @copy, block (0,0,0): 'nvgpu.device_async_copy': thread (0,0,0): data race: writes byte 16 of workgroup buffer 0 read by several threads with no barrier between
// OVERLAP: overlap.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @copy, block (0,0,0): 'nvgpu.device_async_copy': thread (0,0,0): writes byte 0 of workgroup buffer 0 before the asynchronous copy to it by thread (0,0,0) landed (missing wait)
// BADCOUNT: bad-count.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @copy, block (0,0,0): 'nvgpu.device_async_copy': thread (0,0,0): source element count 5 outside [0, 4]
// NOTWG: not-workgroup.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @copy, block (0,0,0): 'nvgpu.device_async_copy': thread (0,0,0): asynchronous copy to the buffer of 'memref.alloc', which is not workgroup memory
// HOST: host.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: asynchronous copy outside a kernel

//--- ok.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %tid = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c4 = arith.constant 4 : index
      %at = arith.muli %tid, %c4 : index
      %n = arith.subi %c4, %at : index
      %valid = arith.maxsi %n, %c2 : index
      %t = nvgpu.device_async_copy %src[%at], %tile[%at], 4, %valid : memref<8xi32> to !tile
      %g = nvgpu.device_async_create_group %t
      nvgpu.device_async_wait %g
      gpu.barrier
      %other = arith.xori %tid, %c1 : index
      %from = arith.muli %other, %c4 : index
      %v = vector.load %tile[%from] : !tile, vector<4xi32>
      vector.store %v, %out[%at] : memref<8xi32>, vector<4xi32>
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c8 = arith.constant 8 : index
    scf.for %i = %c0 to %c8 step %c1 {
      %x = arith.index_cast %i : index to i32
      %c10 = arith.constant 10 : i32
      %y = arith.addi %x, %c10 : i32
      memref.store %y, %src[%i] : memref<8xi32>
    }
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- missing-wait.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %c0 = arith.constant 0 : index
      %t = nvgpu.device_async_copy %src[%c0], %tile[%c0], 4 : memref<8xi32> to !tile
      %g = nvgpu.device_async_create_group %t
      %v = vector.load %tile[%c0] : !tile, vector<4xi32>
      vector.store %v, %out[%c0] : memref<8xi32>, vector<4xi32>
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- wait-count.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %t0 = nvgpu.device_async_copy %src[%c0], %tile[%c0], 4 : memref<8xi32> to !tile
      %g0 = nvgpu.device_async_create_group %t0
      %t1 = nvgpu.device_async_copy %src[%c4], %tile[%c4], 4 : memref<8xi32> to !tile
      %g1 = nvgpu.device_async_create_group %t1
      nvgpu.device_async_wait %g1 {numGroups = 1 : i32}
      %first = vector.load %tile[%c0] : !tile, vector<4xi32>
      vector.store %first, %out[%c0] : memref<8xi32>, vector<4xi32>
      %second = vector.load %tile[%c4] : !tile, vector<4xi32>
      vector.store %second, %out[%c4] : memref<8xi32>, vector<4xi32>
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- no-barrier.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %tid = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      %at = arith.muli %tid, %c4 : index
      %t = nvgpu.device_async_copy %src[%at], %tile[%at], 4 : memref<8xi32> to !tile
      %g = nvgpu.device_async_create_group %t
      nvgpu.device_async_wait %g
      %other = arith.xori %tid, %c1 : index
      %from = arith.muli %other, %c4 : index
      %v = vector.load %tile[%from] : !tile, vector<4xi32>
      vector.store %v, %out[%at] : memref<8xi32>, vector<4xi32>
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- overwrite-read.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // Thread 1 reads elements 4..7 while thread 0 starts a copy into them.
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %tid = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %at = arith.muli %tid, %c4 : index
      %v0 = arith.constant dense<1> : vector<4xi32>
      vector.store %v0, %tile[%at] : !tile, vector<4xi32>
      gpu.barrier
      %v = vector.load %tile[%c4] : !tile, vector<4xi32>
      %first = arith.cmpi eq, %tid, %c0 : index
      scf.if %first {
        %t = nvgpu.device_async_copy %src[%c0], %tile[%c4], 4 : memref<8xi32> to !tile
      }
      vector.store %v, %out[%at] : memref<8xi32>, vector<4xi32>
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- overlap.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %c0 = arith.constant 0 : index
      %c4 = arith.constant 4 : index
      %t0 = nvgpu.device_async_copy %src[%c0], %tile[%c0], 4 : memref<8xi32> to !tile
      %t1 = nvgpu.device_async_copy %src[%c4], %tile[%c0], 4 : memref<8xi32> to !tile
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- bad-count.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %c0 = arith.constant 0 : index
      %c5 = arith.constant 5 : index
      %t = nvgpu.device_async_copy %src[%c0], %tile[%c0], 4, %c5 : memref<8xi32> to !tile
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- not-workgroup.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // Workgroup memory comes from attributions; an allocation in the
    // workgroup address space is not a block's shared memory.
    gpu.func @copy(%src: memref<8xi32>, %out: memref<8xi32>) kernel {
      %c0 = arith.constant 0 : index
      %tile = memref.alloc() : !tile
      %t = nvgpu.device_async_copy %src[%c0], %tile[%c0], 4 : memref<8xi32> to !tile
      gpu.return
    }
  }
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@copy blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%src : memref<8xi32>, %out : memref<8xi32>)
    return
  }
}

//--- host.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module {
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %c0 = arith.constant 0 : index
    %tile = memref.alloc() : !tile
    %t = nvgpu.device_async_copy %src[%c0], %tile[%c0], 4 : memref<8xi32> to !tile
    return
  }
}

//--- host-groups.mlir
module {
  func.func @main(%src: memref<8xi32>, %out: memref<8xi32>) {
    %g = nvgpu.device_async_create_group
    nvgpu.device_async_wait %g
    return
  }
}
