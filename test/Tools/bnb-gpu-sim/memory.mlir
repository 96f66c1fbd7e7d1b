// Out-of-bounds and misaligned accesses in kernels.

// RUN: split-file %s %t
// RUN: not bnb-gpu-sim %t/index.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=INDEX
// RUN: not bnb-gpu-sim %t/vector.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=VECTOR
// RUN: not bnb-gpu-sim %t/aligned-load.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ALIGN
// RUN: not bnb-gpu-sim %t/async-copy.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=ASYNC
// RUN: not bnb-gpu-sim %t/ldmatrix.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=LDMATRIX

// INDEX: index.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'memref.load': thread (1,0,0): index 8 out of bounds for dimension 0 of size 8 of argument 0 of @main
// VECTOR: vector.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'vector.load': thread (0,0,0): access to bytes [24, 40) outside workgroup buffer 0 of 32 bytes
// ALIGN: aligned-load.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'vector.load': thread (0,0,0): misaligned access: byte 4 of argument 0 of @main is not a multiple of 16
// cp.async needs source and destination aligned to the copy size.
// ASYNC: async-copy.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'nvgpu.device_async_copy': thread (0,0,0): misaligned access: byte 8 of workgroup buffer 0 is not a multiple of 16
// ldmatrix rows are 16 bytes, 16-byte aligned.
// LDMATRIX: ldmatrix.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'nvgpu.ldmatrix': thread (0,0,0): misaligned access: byte 2 of workgroup buffer 0 is not a multiple of 16

//--- index.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // Thread 1 reads one past the end.
    gpu.func @k(%out: memref<8xi32>) kernel {
      %tid = gpu.thread_id x
      %c7 = arith.constant 7 : index
      %i = arith.addi %tid, %c7 : index
      %v = memref.load %out[%i] : memref<8xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c2, %c1, %c1) args(%out : memref<8xi32>)
    return
  }
}

//--- vector.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // A vector load runs past the end of its buffer.
    gpu.func @k(%out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %c6 = arith.constant 6 : index
      %v = vector.load %tile[%c6] : !tile, vector<4xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%out : memref<8xi32>)
    return
  }
}

//--- aligned-load.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<8xi32>) kernel {
      %c1 = arith.constant 1 : index
      %v = vector.load %out[%c1] {alignment = 16} : memref<8xi32>, vector<4xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%out : memref<8xi32>)
    return
  }
}

//--- async-copy.mlir
!tile = memref<8xi32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %c0 = arith.constant 0 : index
      %c2 = arith.constant 2 : index
      %t = nvgpu.device_async_copy %out[%c0], %tile[%c2], 4 : memref<8xi32> to !tile
      gpu.return
    }
  }
  func.func @main(%out: memref<8xi32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%out : memref<8xi32>)
    return
  }
}

//--- ldmatrix.mlir
!tile = memref<32x8xf16, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // Rows start one element in.
    gpu.func @k(%out: memref<8xi32>) workgroup(%tile: !tile) kernel {
      %tid = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %v = nvgpu.ldmatrix %tile[%tid, %c1] {numTiles = 1 : i32, transpose = false} : !tile -> vector<1x2xf16>
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
