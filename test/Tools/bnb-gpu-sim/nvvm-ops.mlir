// The NVVM operations the generated kernels use beside the GPU dialect:
// nvvm.shfl.sync idx reads lane `index & 31` (PTX uses the low five bits of
// the index), and nvvm.prmt picks bytes of two registers, replicating a
// byte's sign bit where the selector nibble's high bit is set.

// RUN: split-file %s %t
// RUN: bnb-gpu-sim %t/ok.mlir --entry main --output %t/ok.npy
// RUN: %python -c "import numpy; o = numpy.load('%t/ok.npy').astype('int64') & 0xffffffff; \
// RUN:   t = numpy.arange(64); src = (t & ~31) + ((t * 7 + 37) & 31); \
// RUN:   print('shfl', (o[:64] == src * 3).all(), o[:3].tolist()); \
// RUN:   print('prmt', [hex(v) for v in o[64:][[0, 1, 63]]])" \
// RUN:   | FileCheck %s --check-prefix=OK
// RUN: not bnb-gpu-sim %t/clamp.mlir --entry main --output %t/o.npy 2>&1 \
// RUN:   | FileCheck %s --check-prefix=CLAMP

// Lane 0 reads lane 37 & 31 = 5, lane 1 lane 44 & 31 = 12, lane 2 lane 19.
// OK: shfl True [15, 36, 57]
// Byte 0 from a (0x11 + tid), byte 1 from b (0x66), byte 2 the sign of
// b's 0x77 (0x00), byte 3 the sign of a's 0x82 (0xff).
// OK-NEXT: prmt ['0xff006611', '0xff006612', '0xff006650']

// CLAMP: clamp.mlir:{{[0-9]+}}:{{[0-9]+}}: error: bnb-gpu-sim: kernel @k, block (0,0,0): 'nvvm.shfl.sync': thread (0,0,0): nvvm.shfl.sync with a thread mask other than -1 or a clamp other than 31

//--- ok.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<128xi32>) kernel {
      %tid = gpu.thread_id x
      %t = arith.index_cast %tid : index to i32
      %c3 = arith.constant 3 : i32
      %c7 = arith.constant 7 : i32
      %c37 = arith.constant 37 : i32
      %all = arith.constant -1 : i32
      %c31 = arith.constant 31 : i32
      %v = arith.muli %t, %c3 : i32
      %i7 = arith.muli %t, %c7 : i32
      %index = arith.addi %i7, %c37 : i32
      %s = nvvm.shfl.sync idx %all, %v, %index, %c31 : i32 -> i32
      memref.store %s, %out[%tid] : memref<128xi32>
      %a0 = arith.constant 0x44338211 : i32
      %a = arith.addi %a0, %t : i32
      %b = arith.constant 0x88776655 : i32
      %sel = arith.constant 0x9E50 : i32
      %p = nvvm.prmt <default> %sel, %a, %b : i32
      %c64 = arith.constant 64 : index
      %at = arith.addi %tid, %c64 : index
      memref.store %p, %out[%at] : memref<128xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<128xi32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%out : memref<128xi32>)
    return
  }
}

//--- clamp.mlir
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: memref<32xi32>) kernel {
      %tid = gpu.thread_id x
      %t = arith.index_cast %tid : index to i32
      %all = arith.constant -1 : i32
      %c15 = arith.constant 15 : i32
      %s = nvvm.shfl.sync idx %all, %t, %t, %c15 : i32 -> i32
      memref.store %s, %out[%tid] : memref<32xi32>
      gpu.return
    }
  }
  func.func @main(%out: memref<32xi32>) {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c32, %c1, %c1) args(%out : memref<32xi32>)
    return
  }
}
