// RUN: bnb-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(bnb-gpu-map-host-compute))" | FileCheck %s

// A 2-D loop is tiled by 8 x 32 and mapped innermost-first: the contiguous
// dimension goes to block x / thread x.
// CHECK-LABEL: func.func @elementwise
// CHECK:         scf.parallel (%[[BI:.*]], %[[BJ:.*]]) = {{.*}} step (%{{.*}}, %{{.*}}) {
// CHECK:           scf.parallel (%[[TI:.*]], %[[TJ:.*]]) =
// CHECK:             scf.if
// CHECK:               memref.store
// CHECK:           } {mapping = [#gpu.loop_dim_map<processor = thread_y, {{.*}}>, #gpu.loop_dim_map<processor = thread_x, {{.*}}>]}
// CHECK:         } {mapping = [#gpu.loop_dim_map<processor = block_y, {{.*}}>, #gpu.loop_dim_map<processor = block_x, {{.*}}>]}
func.func @elementwise(%a: memref<100x70xf32>, %b: memref<100x70xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c100 = arith.constant 100 : index
  %c70 = arith.constant 70 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c100, %c70) step (%c1, %c1) {
    %v = memref.load %a[%i, %j] : memref<100x70xf32>
    %w = arith.addf %v, %v : f32
    memref.store %w, %b[%i, %j] : memref<100x70xf32>
    scf.reduce
  }
  return
}

// -----

// A copy between strided views becomes a parallel copy loop; copies between
// identity layouts stay (they become gpu.memcpy later).
// CHECK-LABEL: func.func @copies
// CHECK-NOT:     memref.copy %{{.*}}, %{{.*}} : memref<4x4xf16, strided
// CHECK:         scf.parallel
// CHECK:           memref.load %{{.*}} : memref<4x4xf16, strided<[8, 1], offset: 4>>
// CHECK:           memref.store %{{.*}} : memref<4x4xf16, strided<[8, 1]>>
// CHECK:         memref.copy %{{.*}}, %{{.*}} : memref<4x8xf16> to memref<4x8xf16>
func.func @copies(%a: memref<4x8xf16>, %b: memref<4x8xf16>) {
  %s = memref.subview %a[0, 4] [4, 4] [1, 1] : memref<4x8xf16> to memref<4x4xf16, strided<[8, 1], offset: 4>>
  %d = memref.subview %b[0, 0] [4, 4] [1, 1] : memref<4x8xf16> to memref<4x4xf16, strided<[8, 1]>>
  memref.copy %s, %d : memref<4x4xf16, strided<[8, 1], offset: 4>> to memref<4x4xf16, strided<[8, 1]>>
  memref.copy %a, %b : memref<4x8xf16> to memref<4x8xf16>
  return
}

// -----

// The sequential loop of a full reduction and a scalar fill run in
// single-thread kernels.
// CHECK-LABEL: func.func @scalar
// CHECK:         scf.parallel
// CHECK:           memref.store %{{.*}}, %[[ACC:.*]][] : memref<f32>
// CHECK:         mapping
// CHECK:         scf.parallel
// CHECK:           scf.for
// CHECK:             memref.load
// CHECK:             memref.store
// CHECK:         mapping
func.func @scalar(%a: memref<16xf32>, %acc: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %z = arith.constant 0.0 : f32
  memref.store %z, %acc[] : memref<f32>
  scf.for %i = %c0 to %c16 step %c1 {
    %v = memref.load %a[%i] : memref<16xf32>
    %s = memref.load %acc[] : memref<f32>
    %r = arith.addf %s, %v : f32
    memref.store %r, %acc[] : memref<f32>
  }
  return
}
