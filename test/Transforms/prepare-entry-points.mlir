// RUN: bnb-opt %s -bnb-prepare-entry-points | FileCheck %s

// Public functions get the C interface and read-only tensor arguments;
// private helpers and declarations are untouched.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%{{.+}}: tensor<2x4xf32> {bufferization.writable = false}, %{{.+}}: tensor<4xf32> {bnb.weight = "w", bufferization.writable = false}, %{{.+}}: index)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func private @helper
// CHECK-SAME: (%{{[^:]+}}: tensor<4xf32>) -> tensor<4xf32> {
// CHECK: func.func private @external(tensor<4xf32>)
// CHECK-NOT: emit_c_interface
func.func @forward(%x: tensor<2x4xf32>, %w: tensor<4xf32> {bnb.weight = "w"}, %i: index) -> tensor<4xf32> {
  %y = call @helper(%w) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
func.func private @external(tensor<4xf32>)
