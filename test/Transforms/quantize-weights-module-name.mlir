// A layer whose module name (bnb.module) differs from its weight key, as
// BERT checkpoints saved with the "bert." prefix give (transformers names
// the modules of BertModel without it): the state is stored under the
// module name and the float global, now unused, is gone.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/Inputs/module_name_weights.py make %t/model.safetensors
// RUN: bnb-opt %s -bnb-replace-linear -bnb-quantize-weights="weights=%t/model.safetensors output=%t/out.safetensors" | FileCheck %s
// RUN: %python %S/Inputs/module_name_weights.py list %t/out.safetensors | FileCheck %s --check-prefix=FILE

// CHECK-NOT: @bert.encoder.layer.0.attention.self.query.weight
// CHECK-DAG: ml_program.global private @encoder.layer.0.attention.self.query.weight(#{{.+}}) : tensor<512x1xui8>
// CHECK-DAG: ml_program.global private @encoder.layer.0.attention.self.query.weight.absmax(#{{.+}}) : tensor<16xf32>
// CHECK-DAG: ml_program.global private @bert.encoder.layer.0.attention.self.query.bias(#{{.+}}) : tensor<64xf16>
// CHECK: bnb.linear_4bit {{.+}} module = "encoder.layer.0.attention.self.query"

// FILE:      bert.encoder.layer.0.attention.self.query.bias float16 [64]
// FILE-NEXT: encoder.layer.0.attention.self.query.weight uint8 [512, 1]
// FILE-NEXT: encoder.layer.0.attention.self.query.weight.absmax float32 [16]
// FILE-NEXT: encoder.layer.0.attention.self.query.weight.quant_map float32 [16]
// FILE-NEXT: encoder.layer.0.attention.self.query.weight.quant_state.bitsandbytes__nf4 uint8
// FILE-NOT:  bert.encoder.layer.0.attention.self.query.weight

#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
module attributes {bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_quant_type = "nf4">} {
  ml_program.global private @"bert.encoder.layer.0.attention.self.query.weight"(#ml_program.extern : tensor<64x16xf16>) : tensor<64x16xf16>
  ml_program.global private @"bert.encoder.layer.0.attention.self.query.bias"(#ml_program.extern : tensor<64xf16>) : tensor<64xf16>
  func.func @forward(%x: tensor<2x16xf16>) -> tensor<2x64xf16> {
    %zero = arith.constant 0.0 : f16
    %w = ml_program.global_load_const @"bert.encoder.layer.0.attention.self.query.weight" : tensor<64x16xf16>
    %b = ml_program.global_load_const @"bert.encoder.layer.0.attention.self.query.bias" : tensor<64xf16>
    %e = tensor.empty() : tensor<2x64xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x64xf16>) -> tensor<2x64xf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC] {bnb.module = "encoder.layer.0.attention.self.query"} ins(%x, %w : tensor<2x16xf16>, tensor<64x16xf16>) outs(%f : tensor<2x64xf16>) -> tensor<2x64xf16>
    %yb = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y, %b : tensor<2x64xf16>, tensor<64xf16>) outs(%e : tensor<2x64xf16>) {
    ^bb0(%a: f16, %c: f16, %o: f16):
      %s = arith.addf %a, %c : f16
      linalg.yield %s : f16
    } -> tensor<2x64xf16>
    // Not the function result itself (that would be the output embedding).
    %r = arith.addf %yb, %yb : tensor<2x64xf16>
    return %r : tensor<2x64xf16>
  }
}
