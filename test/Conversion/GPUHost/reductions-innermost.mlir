// RUN: bnb-opt %s --split-input-file --bnb-gpu-reductions-innermost | FileCheck %s

// The cached attention's context sum as the frontend orders it for the CPU,
// (b, i, kv, g, j, d) with the reduction j before the head dimension d:
// the loops become (b, i, kv, g, d, j) and the maps follow, so that every
// parallel dimension is outside the reduction.
// CHECK-DAG: #[[$P:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3, d1, d5)>
// CHECK-DAG: #[[$V:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d5, d4)>
// CHECK-DAG: #[[$O:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @context
// CHECK:       linalg.generic {indexing_maps = [#[[$P]], #[[$V]], #[[$O]]],
// CHECK-SAME:    iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK:         arith.mulf
// CHECK:         arith.addf
func.func @context(%p: tensor<1x2x2x1x?xf32>, %v: tensor<1x2x?x32xf32>,
                   %acc: tensor<1x1x2x2x32xf32>) -> tensor<1x1x2x2x32xf32> {
  %r = linalg.generic {
      indexing_maps = [affine_map<(b, i, kv, g, j, d) -> (b, kv, g, i, j)>,
                       affine_map<(b, i, kv, g, j, d) -> (b, kv, j, d)>,
                       affine_map<(b, i, kv, g, j, d) -> (b, i, kv, g, d)>],
      iterator_types = ["parallel", "parallel", "parallel", "parallel",
                        "reduction", "parallel"]}
      ins(%p, %v : tensor<1x2x2x1x?xf32>, tensor<1x2x?x32xf32>)
      outs(%acc : tensor<1x1x2x2x32xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x2x2x32xf32>
  return %r : tensor<1x1x2x2x32xf32>
}

// -----

// Reductions already innermost, and generics without reductions, are left
// as they are.
// CHECK-LABEL: func.func @row_sum
// CHECK:       iterator_types = ["parallel", "reduction"]
func.func @row_sum(%x: memref<4x8xf32>, %y: memref<4xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
      iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %o, %a : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Two reductions around a parallel dimension keep their relative order:
// (r0, p, r1) becomes (p, r0, r1).
// CHECK-DAG: #[[$X:.*]] = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
// CHECK-DAG: #[[$Y:.*]] = affine_map<(d0, d1, d2) -> (d0)>
// CHECK-LABEL: func.func @two_reductions
// CHECK:       linalg.generic {indexing_maps = [#[[$X]], #[[$Y]]], iterator_types = ["parallel", "reduction", "reduction"]}
func.func @two_reductions(%x: memref<3x4x5xf32>, %y: memref<4xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(r0, p, r1) -> (r0, p, r1)>,
                       affine_map<(r0, p, r1) -> (p)>],
      iterator_types = ["reduction", "parallel", "reduction"]}
      ins(%x : memref<3x4x5xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %o, %a : f32
    linalg.yield %s : f32
  }
  return
}
