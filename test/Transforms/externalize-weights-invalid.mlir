// RUN: bnb-opt %s -bnb-externalize-weights -verify-diagnostics

ml_program.global private @w(#ml_program.extern : tensor<4xf32>) : tensor<4xf32>
// expected-error @below {{'func.func' op loads weights but is not an entry point; inline it into the public function first}}
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w = ml_program.global_load_const @w : tensor<4xf32>
  %y = arith.addf %x, %w : tensor<4xf32>
  return %y : tensor<4xf32>
}
