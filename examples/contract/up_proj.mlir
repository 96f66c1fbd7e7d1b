// One nn.Linear (x·Wᵀ + b) named "model.layers.0.mlp.up_proj" under the model-graph contract:
// weights are external ml_program globals whose bytes live in the safetensors file named by
// `bnb.weights`; the quantization config rides on the module as #bnb.config.
#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
module attributes {bnb.weights = "up_proj.safetensors", bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_quant_type = "nf4", bnb_4bit_use_double_quant = true>} {
  ml_program.global private @"model.layers.0.mlp.up_proj.weight"(#ml_program.extern : tensor<32x16xf16>) : tensor<32x16xf16>
  ml_program.global private @"model.layers.0.mlp.up_proj.bias"(#ml_program.extern : tensor<32xf16>) : tensor<32xf16>
  func.func @forward(%x: tensor<2x16xf16>) -> tensor<2x32xf16> {
    %zero = arith.constant 0.0 : f16
    %w = ml_program.global_load_const @"model.layers.0.mlp.up_proj.weight" : tensor<32x16xf16>
    %b = ml_program.global_load_const @"model.layers.0.mlp.up_proj.bias" : tensor<32xf16>
    %e = tensor.empty() : tensor<2x32xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x32xf16>) -> tensor<2x32xf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%x, %w : tensor<2x16xf16>, tensor<32x16xf16>) outs(%f : tensor<2x32xf16>) -> tensor<2x32xf16>
    %yb = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y, %b : tensor<2x32xf16>, tensor<32xf16>) outs(%e : tensor<2x32xf16>) {
    ^bb0(%a: f16, %c: f16, %o: f16):
      %s = arith.addf %a, %c : f16
      linalg.yield %s : f16
    } -> tensor<2x32xf16>
    return %yb : tensor<2x32xf16>
  }
}
