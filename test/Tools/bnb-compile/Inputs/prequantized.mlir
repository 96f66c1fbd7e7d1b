// One NF4 linear whose state a pre-quantized checkpoint stores (pq.safetensors,
// written by bnb-quantize): the form bnb-quantize-weights produces, with the
// checkpoint's quantization_config as bnb.config.
module attributes {bnb.weights = "pq.safetensors",
                   bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_quant_type = "nf4">} {
  ml_program.global private @"l.weight"(#ml_program.extern : tensor<64x1xui8>) : tensor<64x1xui8>
  ml_program.global private @"l.weight.absmax"(#ml_program.extern : tensor<2xf32>) : tensor<2xf32>
  func.func @forward(%x: tensor<2x16xf16>) -> tensor<2x8xf16> {
    %w = ml_program.global_load_const @"l.weight" : tensor<64x1xui8>
    %a = ml_program.global_load_const @"l.weight.absmax" : tensor<2xf32>
    %y = bnb.linear_4bit %x, %w absmax(%a : tensor<2xf32>)
           {module = "l", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
            compute_dtype = f32, shape = array<i64: 8, 16>}
           : tensor<2x16xf16>, tensor<64x1xui8> -> tensor<2x8xf16>
    return %y : tensor<2x8xf16>
  }
}
