// The layers bnb-gpu-bench measures, compiled at build time by
// bnb-lower-to-nvvm (see CMakeLists.txt). Weights are arguments (device
// buffers), results are out-parameters, as in an artifact.
//
// 4-bit GEMV at batch 1, NF4 with and without double quantization, f16:
//   gemv_nf4_<N>x<K>, gemv_nf4dq_<N>x<K>   (N output features, K inputs)
// LLM.int8() with outliers at 2048 tokens, 4096 x 4096, f16:
//   int8_2048x4096x4096

func.func @gemv_nf4_4096x4096(%x: tensor<1x4096xf16>, %w: tensor<8388608x1xui8>,
                          %a: tensor<262144xf32>) -> tensor<1x4096xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<262144xf32>)
         {module = "bench", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
          compute_dtype = f16, shape = array<i64: 4096, 4096>}
         : tensor<1x4096xf16>, tensor<8388608x1xui8> -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}

func.func @gemv_nf4dq_4096x4096(%x: tensor<1x4096xf16>, %w: tensor<8388608x1xui8>,
                            %a: tensor<262144xui8>, %na: tensor<1024xf32>)
    -> tensor<1x4096xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<262144xui8>) nested(%na : tensor<1024xf32>)
         {module = "bench", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
          compute_dtype = f16, shape = array<i64: 4096, 4096>, nested_offset = 0.03125 : f32}
         : tensor<1x4096xf16>, tensor<8388608x1xui8> -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}

func.func @gemv_nf4_11008x4096(%x: tensor<1x4096xf16>, %w: tensor<22544384x1xui8>,
                          %a: tensor<704512xf32>) -> tensor<1x11008xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<704512xf32>)
         {module = "bench", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
          compute_dtype = f16, shape = array<i64: 11008, 4096>}
         : tensor<1x4096xf16>, tensor<22544384x1xui8> -> tensor<1x11008xf16>
  return %y : tensor<1x11008xf16>
}

func.func @gemv_nf4dq_11008x4096(%x: tensor<1x4096xf16>, %w: tensor<22544384x1xui8>,
                            %a: tensor<704512xui8>, %na: tensor<2752xf32>)
    -> tensor<1x11008xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<704512xui8>) nested(%na : tensor<2752xf32>)
         {module = "bench", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
          compute_dtype = f16, shape = array<i64: 11008, 4096>, nested_offset = 0.03125 : f32}
         : tensor<1x4096xf16>, tensor<22544384x1xui8> -> tensor<1x11008xf16>
  return %y : tensor<1x11008xf16>
}

func.func @gemv_nf4_4096x11008(%x: tensor<1x11008xf16>, %w: tensor<22544384x1xui8>,
                          %a: tensor<704512xf32>) -> tensor<1x4096xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<704512xf32>)
         {module = "bench", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
          compute_dtype = f16, shape = array<i64: 4096, 11008>}
         : tensor<1x11008xf16>, tensor<22544384x1xui8> -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}

func.func @gemv_nf4dq_4096x11008(%x: tensor<1x11008xf16>, %w: tensor<22544384x1xui8>,
                            %a: tensor<704512xui8>, %na: tensor<2752xf32>)
    -> tensor<1x4096xf16> {
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<704512xui8>) nested(%na : tensor<2752xf32>)
         {module = "bench", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64,
          compute_dtype = f16, shape = array<i64: 4096, 11008>, nested_offset = 0.03125 : f32}
         : tensor<1x11008xf16>, tensor<22544384x1xui8> -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}

func.func @int8_2048x4096x4096(%x: tensor<2048x4096xf16>, %w: tensor<4096x4096xi8>,
                               %s: tensor<4096xf32>) -> tensor<2048x4096xf16> {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<4096xf32>) {module = "bench", threshold = 6.0 : f32}
         : tensor<2048x4096xf16>, tensor<4096x4096xi8> -> tensor<2048x4096xf16>
  return %y : tensor<2048x4096xf16>
}
