// RUN: bnb-opt %s --split-input-file --bnb-gpu-resident-constants --verify-diagnostics | FileCheck %s

module attributes {gpu.container_module} {
memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
memref.global "private" constant @rope : memref<3x2xf16> = dense<1.0>
memref.global "private" constant @unused : memref<8xi8> = dense<0>

gpu.module @kernels {
  gpu.func @k(%a: memref<4xf32>) kernel {
    gpu.return
  }
  gpu.func @r(%a: memref<3x2xf16>) kernel {
    gpu.return
  }
}

// Each constant is looked up once at entry, even when it is read in a loop
// and more than once: its device copy (both descriptor pointers) replaces
// every read, and nothing is allocated, copied or freed per call.
// CHECK-LABEL: func.func @host
// CHECK-NEXT:    %[[TH:.*]] = memref.get_global @table : memref<4xf32>
// CHECK-NEXT:    %[[TD:.*]] = builtin.unrealized_conversion_cast %[[TH]] : memref<4xf32> to !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>
// CHECK-NEXT:    %[[TP:.*]] = llvm.extractvalue %[[TD]][1]
// CHECK-NEXT:    %[[TN:.*]] = llvm.mlir.constant(16 : i64) : i64
// CHECK-NEXT:    %[[TDEV:.*]] = llvm.call @bnbrtResidentConstant(%[[TP]], %[[TN]]) : (!llvm.ptr, i64) -> !llvm.ptr
// CHECK-NEXT:    %[[T0:.*]] = llvm.insertvalue %[[TDEV]], %[[TD]][0]
// CHECK-NEXT:    %[[T1:.*]] = llvm.insertvalue %[[TDEV]], %[[T0]][1]
// CHECK-NEXT:    %[[T:.*]] = builtin.unrealized_conversion_cast %[[T1]] : !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)> to memref<4xf32>
// CHECK-NEXT:    %[[RH:.*]] = memref.get_global @rope : memref<3x2xf16>
// CHECK:         %[[RN:.*]] = llvm.mlir.constant(12 : i64) : i64
// CHECK-NEXT:    llvm.call @bnbrtResidentConstant(%{{.*}}, %[[RN]])
// CHECK:         %[[R:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<3x2xf16>
// CHECK-NOT:     memref.get_global
// CHECK-NOT:     bnbrtResidentConstant
// CHECK:         scf.for
// CHECK-NEXT:      gpu.launch_func @kernels::@k {{.*}} args(%[[T]] : memref<4xf32>)
// CHECK:         gpu.launch_func @kernels::@k {{.*}} args(%[[T]] : memref<4xf32>)
// CHECK-NEXT:    gpu.launch_func @kernels::@r {{.*}} args(%[[R]] : memref<3x2xf16>)
// CHECK-NEXT:    return
func.func @host() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %u = memref.get_global @unused : memref<8xi8>
  scf.for %i = %c0 to %c4 step %c1 {
    %g = memref.get_global @table : memref<4xf32>
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%g : memref<4xf32>)
  }
  %g2 = memref.get_global @table : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%g2 : memref<4xf32>)
  %r = memref.get_global @rope : memref<3x2xf16>
  gpu.launch_func @kernels::@r blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%r : memref<3x2xf16>)
  return
}

// A second entry point looks the same constant up itself (the runtime
// returns the copy the first one made).
// CHECK-LABEL: func.func @other
// CHECK-NEXT:    memref.get_global @table
// CHECK:         llvm.call @bnbrtResidentConstant
// CHECK-NOT:     bnbrtResidentConstant
// CHECK:         return
func.func @other() {
  %c1 = arith.constant 1 : index
  %g = memref.get_global @table : memref<4xf32>
  gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%g : memref<4xf32>)
  return
}

// The runtime entry points, and a destructor that releases each constant
// read by host code once when the module is unloaded; an unused read
// uploads nothing.
// CHECK:       llvm.func @bnbrtResidentConstant(!llvm.ptr, i64) -> !llvm.ptr
// CHECK:       llvm.func @bnbrtReleaseResidentConstant(!llvm.ptr)
// CHECK-LABEL: llvm.func internal @bnb_release_resident_constants()
// CHECK-NEXT:    memref.get_global @table
// CHECK:         llvm.call @bnbrtReleaseResidentConstant
// CHECK-NEXT:    memref.get_global @rope
// CHECK:         llvm.call @bnbrtReleaseResidentConstant
// CHECK-NEXT:    llvm.return
// CHECK:       llvm.mlir.global_dtors dtors = [@bnb_release_resident_constants]
// CHECK-NOT:   @unused
}

// -----

// Without constants read by host code, nothing changes: kernels keep their
// own globals.
// CHECK-LABEL: module
// CHECK-NOT:     bnbrtResidentConstant
// CHECK-NOT:     llvm.mlir.global_dtors
// CHECK:         gpu.module @device
// CHECK:           memref.get_global @code
module attributes {gpu.container_module} {
gpu.module @device {
  memref.global "private" constant @code : memref<16xf32> = dense<0.0>
  gpu.func @k(%a: memref<16xf32>) kernel {
    %c = memref.get_global @code : memref<16xf32>
    gpu.return
  }
}
func.func @plain(%a: memref<16xf32>) {
  %c1 = arith.constant 1 : index
  gpu.launch_func @device::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<16xf32>)
  return
}
}

// -----

memref.global "private" @state : memref<4xf32> = dense<0.0>
func.func @read_mutable() -> memref<4xf32> {
  // expected-error @+1 {{'memref.get_global' op reads @state from host code, which is not a constant with an initial value: only constants can be resident on the device}}
  %g = memref.get_global @state : memref<4xf32>
  return %g : memref<4xf32>
}

// -----

memref.global "private" constant @uninitialized : memref<4xf32> = uninitialized
func.func @read_uninitialized() -> memref<4xf32> {
  // expected-error @+1 {{'memref.get_global' op reads @uninitialized from host code, which is not a constant with an initial value: only constants can be resident on the device}}
  %g = memref.get_global @uninitialized : memref<4xf32>
  return %g : memref<4xf32>
}

// -----

memref.global "private" constant @strided : memref<2x2xf32, strided<[4, 1]>> = dense<1.0>
func.func @read_strided() -> memref<2x2xf32, strided<[4, 1]>> {
  // expected-error @+1 {{'memref.get_global' op reads @strided, whose layout is not the identity: only contiguous constants can be resident on the device}}
  %g = memref.get_global @strided : memref<2x2xf32, strided<[4, 1]>>
  return %g : memref<2x2xf32, strided<[4, 1]>>
}
