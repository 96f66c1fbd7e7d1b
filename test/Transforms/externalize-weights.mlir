// RUN: bnb-opt %s -split-input-file -bnb-externalize-weights | FileCheck %s

// Weight loads become trailing arguments named by checkpoint key, one per
// global even when it is loaded twice; inline-valued globals become
// constants.
// CHECK-LABEL: module
// CHECK-NOT: ml_program.global
// CHECK-LABEL: func @forward
// CHECK-SAME: (%[[X:.+]]: tensor<2x16xf16>, %[[W:.+]]: tensor<32x16xf16> {bnb.weight = "model.up_proj.weight"}, %[[B:.+]]: tensor<32xf16> {bnb.weight = "model.up_proj.bias"})
// CHECK: bnb.linear_int8 %[[X]], %[[W]] bias(%[[B]] : tensor<32xf16>)
// CHECK: %[[C:.+]] = arith.constant {bnb.name = "scale"} dense<2.000000e+00> : tensor<32xf16>
// CHECK: arith.addf %{{.+}}, %[[B]]
// CHECK: arith.mulf %{{.+}}, %[[C]]
module {
  ml_program.global private @"model.up_proj.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
  ml_program.global private @"model.up_proj.bias"(#ml_program.extern : tensor<32xf16>) : tensor<32xf16>
  ml_program.global private @scale(dense<2.0> : tensor<32xf16>) : tensor<32xf16>
  func.func @forward(%x: tensor<2x16xf16>) -> tensor<32xf16> {
    %w = ml_program.global_load_const @"model.up_proj.weight" : tensor<32x16xf16>
    %b = ml_program.global_load_const @"model.up_proj.bias" : tensor<32xf16>
    %y = bnb.linear_int8 %x, %w bias(%b : tensor<32xf16>) {module = "model.up_proj"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
    %b2 = ml_program.global_load_const @"model.up_proj.bias" : tensor<32xf16>
    %s = ml_program.global_load_const @scale : tensor<32xf16>
    %z = arith.addf %b2, %b2 : tensor<32xf16>
    %r = arith.mulf %z, %s : tensor<32xf16>
    return %r : tensor<32xf16>
  }
}
