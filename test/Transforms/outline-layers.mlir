// RUN: bnb-opt %s -split-input-file -bnb-outline-layers | FileCheck %s
// RUN: bnb-opt %s -split-input-file -bnb-outline-layers=inline=true | FileCheck %s --check-prefix=INLINE

// Three layers, the first two identical up to their weights and the third
// different: two private functions, three calls; constants and tensor.empty
// are recreated inside each layer, the hidden state and the weights are
// arguments in order of first use.
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[H:.+]]: tensor<2x16xf32>, %[[W0:.+]]: tensor<16xf32>, %[[W1:.+]]: tensor<16xf32>, %[[W2:.+]]: tensor<16xf32>)
// CHECK-NEXT: %[[R0:.+]] = call @forward_layer(%[[H]], %[[W0]]) : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32>
// CHECK-NEXT: %[[R1:.+]] = call @forward_layer(%[[R0]], %[[W1]])
// CHECK-NEXT: %[[R2:.+]] = call @[[OTHER:forward_layer_[0-9]+]](%[[R1]], %[[W2]])
// CHECK-NEXT: return %[[R2]]
// CHECK: func.func private @[[OTHER]](%{{.+}}: tensor<2x16xf32>, %{{.+}}: tensor<16xf32>) -> tensor<2x16xf32>
// CHECK: arith.addf
// CHECK: func.func private @forward_layer(%[[A0:.+]]: tensor<2x16xf32>, %[[A1:.+]]: tensor<16xf32>) -> tensor<2x16xf32>
// CHECK-DAG: %[[C:.+]] = arith.constant 2.000000e+00 : f32
// CHECK-DAG: %[[E:.+]] = tensor.empty() : tensor<2x16xf32>
// CHECK: linalg.generic {{.+}} ins(%[[A0]], %[[A1]] : tensor<2x16xf32>, tensor<16xf32>) outs(%[[E]] : tensor<2x16xf32>)
// CHECK: arith.mulf %{{.+}}, %[[C]] : f32
// CHECK: return
// CHECK-NOT: scf.execute_region
// INLINE-LABEL: func.func @forward
// INLINE-COUNT-3: linalg.generic
// INLINE-NOT: scf.execute_region
// INLINE-NOT: call
// INLINE: return
func.func @forward(%h: tensor<2x16xf32>, %w0: tensor<16xf32>, %w1: tensor<16xf32>, %w2: tensor<16xf32>) -> tensor<2x16xf32> {
  %c = arith.constant 2.0 : f32
  %e = tensor.empty() : tensor<2x16xf32>
  %r0 = scf.execute_region -> tensor<2x16xf32> no_inline {
    %a = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%h, %w0 : tensor<2x16xf32>, tensor<16xf32>) outs(%e : tensor<2x16xf32>) {
    ^bb0(%x: f32, %w: f32, %o: f32):
      %m = arith.mulf %x, %w : f32
      %n = arith.mulf %m, %c : f32
      linalg.yield %n : f32
    } -> tensor<2x16xf32>
    scf.yield %a : tensor<2x16xf32>
  } {bnb.layer = "model.layers.0"}
  %r1 = scf.execute_region -> tensor<2x16xf32> no_inline {
    %a = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%r0, %w1 : tensor<2x16xf32>, tensor<16xf32>) outs(%e : tensor<2x16xf32>) {
    ^bb0(%x: f32, %w: f32, %o: f32):
      %m = arith.mulf %x, %w : f32
      %n = arith.mulf %m, %c : f32
      linalg.yield %n : f32
    } -> tensor<2x16xf32>
    scf.yield %a : tensor<2x16xf32>
  } {bnb.layer = "model.layers.1"}
  %r2 = scf.execute_region -> tensor<2x16xf32> no_inline {
    %a = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%r1, %w2 : tensor<2x16xf32>, tensor<16xf32>) outs(%e : tensor<2x16xf32>) {
    ^bb0(%x: f32, %w: f32, %o: f32):
      %m = arith.addf %x, %w : f32
      linalg.yield %m : f32
    } -> tensor<2x16xf32>
    scf.yield %a : tensor<2x16xf32>
  } {bnb.layer = "model.layers.2"}
  return %r2 : tensor<2x16xf32>
}

// -----

// A region without the bnb.layer marker is not touched; a marked region
// nested in another region is inlined in place.
// CHECK-LABEL: func.func @unmarked
// CHECK: scf.execute_region
// CHECK: scf.if
// CHECK-NOT: scf.execute_region
// CHECK-NOT: call
// CHECK: arith.negf
// INLINE-LABEL: func.func @unmarked
// INLINE: scf.execute_region
// INLINE: scf.if
// INLINE-NEXT: arith.negf
func.func @unmarked(%x: f32, %p: i1) -> (f32, f32) {
  %a = scf.execute_region -> f32 no_inline {
    %y = arith.addf %x, %x : f32
    scf.yield %y : f32
  }
  %b = scf.if %p -> f32 {
    %r = scf.execute_region -> f32 no_inline {
      %n = arith.negf %x : f32
      scf.yield %n : f32
    } {bnb.layer = "model.layers.0"}
    scf.yield %r : f32
  } else {
    scf.yield %x : f32
  }
  return %a, %b : f32, f32
}

// -----

// Two layers that differ only in a scalar constant (a double-quantization
// offset, say) share one function that takes the constant as an argument;
// each call passes its own value.
// CHECK-LABEL: func.func @offsets
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
// CHECK: %[[C1:.+]] = arith.constant 1.500000e+00 : f32
// CHECK: %[[R0:.+]] = call @offsets_layer(%[[X]], %[[C1]]) : (tensor<4xf32>, f32) -> tensor<4xf32>
// CHECK: %[[C2:.+]] = arith.constant 2.500000e+00 : f32
// CHECK: call @offsets_layer(%[[R0]], %[[C2]])
// CHECK: func.func private @offsets_layer(%[[A:.+]]: tensor<4xf32>, %[[OFF:.+]]: f32) -> tensor<4xf32>
// CHECK: arith.addf %{{.+}}, %[[OFF]] : f32
// CHECK-NOT: func.func private @offsets_layer
// INLINE-LABEL: func.func @offsets
func.func @offsets(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r0 = scf.execute_region -> tensor<4xf32> no_inline {
    %c = arith.constant 1.5 : f32
    %e = tensor.empty() : tensor<4xf32>
    %a = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%v: f32, %o: f32):
      %s = arith.addf %v, %c : f32
      linalg.yield %s : f32
    } -> tensor<4xf32>
    scf.yield %a : tensor<4xf32>
  } {bnb.layer = "model.layers.0"}
  %r1 = scf.execute_region -> tensor<4xf32> no_inline {
    %c = arith.constant 2.5 : f32
    %e = tensor.empty() : tensor<4xf32>
    %a = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%r0 : tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%v: f32, %o: f32):
      %s = arith.addf %v, %c : f32
      linalg.yield %s : f32
    } -> tensor<4xf32>
    scf.yield %a : tensor<4xf32>
  } {bnb.layer = "model.layers.1"}
  return %r1 : tensor<4xf32>
}
