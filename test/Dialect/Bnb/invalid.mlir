// RUN: bnb-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// #bnb.config
//===----------------------------------------------------------------------===//

// expected-error @+1 {{load_in_4bit and load_in_8bit are both True, but only one can be used at the same time}}
module attributes {bnb.config = #bnb.config<load_in_8bit = true, load_in_4bit = true>} {}

// -----

// expected-error @+1 {{llm_int8_threshold must be a float >= 0}}
module attributes {bnb.config = #bnb.config<llm_int8_threshold = -1.0>} {}

// -----

// expected-error @+1 {{llm_int8_skip_modules must be a list of strings}}
module attributes {bnb.config = #bnb.config<llm_int8_skip_modules = [1, 2]>} {}

// -----

// expected-error @+1 {{llm_int8_skip_modules must be a list of strings}}
module attributes {bnb.config = #bnb.config<llm_int8_skip_modules = "lm_head">} {}

// -----

// expected-error @+1 {{bnb_4bit_compute_dtype must be f16, bf16 or f32}}
module attributes {bnb.config = #bnb.config<bnb_4bit_compute_dtype = f64>} {}

// -----

// expected-error @+1 {{bnb_4bit_quant_storage must be one of float16, float32, int8, uint8, float64, bfloat16}}
module attributes {bnb.config = #bnb.config<bnb_4bit_quant_storage = i16>} {}

// -----

// expected-error @+1 {{unknown bnb_4bit_quant_type 'int4' (expected "nf4" or "fp4")}}
module attributes {bnb.config = #bnb.config<bnb_4bit_quant_type = "int4">} {}

// -----

// expected-error @+1 {{unknown dtype 'float8'}}
module attributes {bnb.config = #bnb.config<bnb_4bit_compute_dtype = "float8">} {}

// -----

// expected-error @+1 {{unknown BitsAndBytesConfig field 'load_in_2bit'}}
module attributes {bnb.config = #bnb.config<load_in_2bit = true>} {}

// -----

// expected-error @+1 {{duplicate field 'load_in_4bit'}}
module attributes {bnb.config = #bnb.config<load_in_4bit = true, load_in_4bit = false>} {}

// -----

// expected-error @+1 {{expected 'true' or 'false'}}
module attributes {bnb.config = #bnb.config<load_in_4bit = 1>} {}

// -----

//===----------------------------------------------------------------------===//
// bnb.linear_int8
//===----------------------------------------------------------------------===//

func.func @int8_negative_threshold(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op threshold must be >= 0}}
  %y = bnb.linear_int8 %x, %w {module = "m", threshold = -1.0 : f32} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_weight_rank(%x: tensor<2x16xf16>, %w: tensor<32x16x1xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op weight must be 2-D, got 'tensor<32x16x1xf16>'}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<2x16xf16>, tensor<32x16x1xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_unsigned_weight(%x: tensor<2x16xf16>, %w: tensor<32x16xui8>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bnb.linear_int8' op int8 weight must be i8, got 'tensor<32x16xui8>'}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) {module = "m"} : tensor<2x16xf16>, tensor<32x16xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_missing_scb(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>) {
  // expected-error @+1 {{'bnb.linear_int8' op int8 weight requires its scb operand}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_fp16_flag_on_int8(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bnb.linear_int8' op has_fp16_weight requires a float weight}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) {module = "m", has_fp16_weight} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_conv1d_on_int8(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bnb.linear_int8' op an int8 weight is always [out, in]; conv1d applies only to float weights}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) {module = "m", conv1d} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_scb_shape(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<16xf32>) {
  // expected-error @+1 {{'bnb.linear_int8' op scb must have shape [32], got 'tensor<16xf32>'}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<16xf32>) {module = "m"} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_scb_with_float(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bnb.linear_int8' op scb is only valid with an i8 weight}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf32>) {module = "m"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_scb_type(%x: tensor<2x16xf16>, %w: tensor<32x16xi8>, %s: tensor<32xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op operand #2 must be ranked tensor of 32-bit float values}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<32xf16>) {module = "m"} : tensor<2x16xf16>, tensor<32x16xi8> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_bias_shape(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>, %b: tensor<16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op bias must have shape [32], got 'tensor<16xf16>'}}
  %y = bnb.linear_int8 %x, %w bias(%b : tensor<16xf16>) {module = "m"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_input_features(%x: tensor<2x8xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op input has 8 features but the weight expects 16}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<2x8xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @int8_rank0_input(%x: tensor<f16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op input must have rank >= 1}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<f16>, tensor<32x16xf16> -> tensor<32xf16>
  return
}

// -----

func.func @int8_result_rank(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op result rank 3 differs from input rank 2}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<1x2x32xf16>
  return
}

// -----

func.func @int8_result_batch(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op result dimension 0 (3) differs from the input's (2)}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<3x32xf16>
  return
}

// -----

func.func @int8_result_features(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op result has 16 features but the weight has 32 outputs}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x16xf16>
  return
}

// -----

func.func @int8_result_type(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op result element type must equal the input's ('f16')}}
  %y = bnb.linear_int8 %x, %w {module = "m"} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// bnb.linear_4bit
//===----------------------------------------------------------------------===//

func.func @l4_blocksize(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op blocksize 48 is not one bitsandbytes accepts for 4-bit quantization (32, 64, ..., 4096)}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 48 : i64, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_compute_dtype(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op compute_dtype must be f16, bf16 or f32, got 'f64'}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f64, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_quant_storage(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op quant_storage must be one of f16, bf16, f32, f64, i8, ui8, got 'i32'}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>, quant_storage = i32} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_shape_attr(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op shape must be [out_features, in_features] with positive sizes}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 512>} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_float_with_absmax(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>, %a: tensor<8xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op absmax and nested state are only valid with a packed weight}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_float_shape(%x: tensor<2x16xf16>, %w: tensor<16x32xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op float weight must have shape [32, 16], got 'tensor<16x32xf16>'}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<16x32xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_signed_packed(%x: tensor<2x16xf16>, %w: tensor<256x1xi8>, %a: tensor<8xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op packed weight must be ui8, got 'tensor<256x1xi8>'}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<256x1xi8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_conv1d_packed(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op a packed weight is always [out, in]; conv1d applies only to float weights}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>, conv1d} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_packed_rank(%x: tensor<2x16xf16>, %w: tensor<256xui8>, %a: tensor<8xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op packed weight must have shape [ceil(n/2), 1], got 'tensor<256xui8>'}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<256xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_packed_length(%x: tensor<2x16xf16>, %w: tensor<512x1xui8>, %a: tensor<8xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op packed weight holds 512 bytes but ceil(n/2) = 256 for n = 512}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<512x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_missing_absmax(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>) {
  // expected-error @+1 {{'bnb.linear_4bit' op packed weight requires its absmax operand}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_absmax_count(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<16xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op absmax has 16 entries but ceil(n/blocksize) = 8 for n = 512 and blocksize 64}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<16xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_absmax_rank(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8x1xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op absmax must be 1-D, got 'tensor<8x1xf32>'}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8x1xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_nested_f32_absmax(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8xf32>, %n: tensor<1xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op nested_absmax requires ui8 absmax codes (double quantization)}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xf32>) nested(%n : tensor<1xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>, nested_offset = 1.0 : f32} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_codes_without_nested(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8xui8>) {
  // expected-error @+1 {{'bnb.linear_4bit' op ui8 absmax codes require nested_absmax}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xui8>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_nested_without_offset(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8xui8>, %n: tensor<1xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op nested_absmax and nested_offset must be given together}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xui8>) nested(%n : tensor<1xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_nested_count(%x: tensor<2x16xf16>, %w: tensor<256x1xui8>, %a: tensor<8xui8>, %n: tensor<2xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op nested_absmax has 2 entries but ceil(n/blocksize) = 1 for n = 8 and blocksize 256}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<8xui8>) nested(%n : tensor<2xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>, nested_offset = 1.0 : f32} : tensor<2x16xf16>, tensor<256x1xui8> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_bias(%x: tensor<2x16xf16>, %w: tensor<32x16xf16>, %b: tensor<2x32xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op bias must have shape [32], got 'tensor<2x32xf16>'}}
  %y = bnb.linear_4bit %x, %w bias(%b : tensor<2x32xf16>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x16xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

func.func @l4_input_features(%x: tensor<2x32xf16>, %w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op input has 32 features but the weight expects 16}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 32, 16>} : tensor<2x32xf16>, tensor<32x16xf16> -> tensor<2x32xf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// bnb.quantize_rowwise
//===----------------------------------------------------------------------===//

func.func @rowwise_threshold(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.quantize_rowwise' op threshold must be >= 0}}
  %q, %s = bnb.quantize_rowwise %x {threshold = -6.0 : f32} : tensor<4x16xf16> -> tensor<4x16xi8>, tensor<4xf32>
  return
}

// -----

func.func @rowwise_input_type(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{'bnb.quantize_rowwise' op operand #0 must be ranked tensor of 16-bit float values}}
  %q, %s = bnb.quantize_rowwise %x : tensor<4x16xf32> -> tensor<4x16xi8>, tensor<4xf32>
  return
}

// -----

func.func @rowwise_result_type(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.quantize_rowwise' op result #0 must be ranked tensor of 8-bit signless integer values}}
  %q, %s = bnb.quantize_rowwise %x : tensor<4x16xf16> -> tensor<4x16xi32>, tensor<4xf32>
  return
}

// -----

func.func @rowwise_rank(%x: tensor<16xf16>) {
  // expected-error @+1 {{'bnb.quantize_rowwise' op input must be 2-D, got 'tensor<16xf16>'}}
  %q, %s = bnb.quantize_rowwise %x : tensor<16xf16> -> tensor<16xi8>, tensor<1xf32>
  return
}

// -----

func.func @rowwise_result_shape(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.quantize_rowwise' op result shape must equal the input's}}
  %q, %s = bnb.quantize_rowwise %x : tensor<4x16xf16> -> tensor<4x8xi8>, tensor<4xf32>
  return
}

// -----

func.func @rowwise_stats(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.quantize_rowwise' op stats must have one entry per row (4), got 'tensor<16xf32>'}}
  %q, %s = bnb.quantize_rowwise %x : tensor<4x16xf16> -> tensor<4x16xi8>, tensor<16xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// bnb.outlier_split
//===----------------------------------------------------------------------===//

func.func @split_threshold(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op threshold must be > 0 (0 disables outliers)}}
  %c, %o = bnb.outlier_split %x {threshold = 0.0 : f32} : tensor<4x16xf16> -> tensor<?xi64>, tensor<4x?xf16>
  return
}

// -----

func.func @split_rank(%x: tensor<16xf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op input must be 2-D, got 'tensor<16xf16>'}}
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<16xf16> -> tensor<?xi64>, tensor<4x?xf16>
  return
}

// -----

func.func @split_columns_rank(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op columns must be 1-D, got 'tensor<?x1xi64>'}}
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<?x1xi64>, tensor<4x?xf16>
  return
}

// -----

func.func @split_outliers_rank(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op outliers must be 2-D, got 'tensor<?xf16>'}}
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<?xi64>, tensor<?xf16>
  return
}

// -----

func.func @split_outliers_type(%x: tensor<4x16xbf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op outliers must keep the input element type}}
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xbf16> -> tensor<?xi64>, tensor<4x?xf16>
  return
}

// -----

func.func @split_outliers_rows(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op outliers must have 4 rows, got 3}}
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<?xi64>, tensor<3x?xf16>
  return
}

// -----

func.func @split_outliers_cols(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op outliers must have one column per outlier index}}
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<2xi64>, tensor<4x3xf16>
  return
}

// -----

func.func @split_too_many(%x: tensor<4x16xf16>) {
  // expected-error @+1 {{'bnb.outlier_split' op more outlier columns than input columns}}
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<4x16xf16> -> tensor<17xi64>, tensor<4x17xf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// bnb.int8_matmul
//===----------------------------------------------------------------------===//

func.func @matmul_rank(%a: tensor<4x16xi8>, %b: tensor<16xi8>) {
  // expected-error @+1 {{'bnb.int8_matmul' op operands and result must be 2-D}}
  %c = bnb.int8_matmul %a, %b : tensor<4x16xi8>, tensor<16xi8> -> tensor<4x1xi32>
  return
}

// -----

func.func @matmul_k(%a: tensor<4x16xi8>, %b: tensor<32x8xi8>) {
  // expected-error @+1 {{'bnb.int8_matmul' op contraction sizes differ: 16 vs 8}}
  %c = bnb.int8_matmul %a, %b : tensor<4x16xi8>, tensor<32x8xi8> -> tensor<4x32xi32>
  return
}

// -----

func.func @matmul_result(%a: tensor<4x16xi8>, %b: tensor<32x16xi8>) {
  // expected-error @+1 {{'bnb.int8_matmul' op result must have shape [4, 32]}}
  %c = bnb.int8_matmul %a, %b : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<32x4xi32>
  return
}

// -----

func.func @matmul_operand_type(%a: tensor<4x16xf16>, %b: tensor<32x16xi8>) {
  // expected-error @+1 {{'bnb.int8_matmul' op operand #0 must be ranked tensor of 8-bit signless integer values}}
  %c = bnb.int8_matmul %a, %b : tensor<4x16xf16>, tensor<32x16xi8> -> tensor<4x32xi32>
  return
}

// -----

func.func @matmul_accumulator_type(%a: tensor<4x16xi8>, %b: tensor<32x16xi8>) {
  // expected-error @+1 {{'bnb.int8_matmul' op result #0 must be ranked tensor of 32-bit signless integer values}}
  %c = bnb.int8_matmul %a, %b : tensor<4x16xi8>, tensor<32x16xi8> -> tensor<4x32xi16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// bnb.dequantize_int8
//===----------------------------------------------------------------------===//

func.func @deq8_rank(%c: tensor<32xi32>, %r: tensor<4xf32>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bnb.dequantize_int8' op input must be 2-D, got 'tensor<32xi32>'}}
  %y = bnb.dequantize_int8 %c, %r, %s : tensor<32xi32>, tensor<4xf32>, tensor<32xf32> -> tensor<32xf16>
  return
}

// -----

func.func @deq8_rows(%c: tensor<4x32xi32>, %r: tensor<5xf32>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bnb.dequantize_int8' op row_stats must have one entry per row (4), got 'tensor<5xf32>'}}
  %y = bnb.dequantize_int8 %c, %r, %s : tensor<4x32xi32>, tensor<5xf32>, tensor<32xf32> -> tensor<4x32xf16>
  return
}

// -----

func.func @deq8_cols(%c: tensor<4x32xi32>, %r: tensor<4xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'bnb.dequantize_int8' op col_stats must have one entry per column (32), got 'tensor<4xf32>'}}
  %y = bnb.dequantize_int8 %c, %r, %s : tensor<4x32xi32>, tensor<4xf32>, tensor<4xf32> -> tensor<4x32xf16>
  return
}

// -----

func.func @deq8_bias(%c: tensor<4x32xi32>, %r: tensor<4xf32>, %s: tensor<32xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{'bnb.dequantize_int8' op bias must have shape [32], got 'tensor<4xf16>'}}
  %y = bnb.dequantize_int8 %c, %r, %s bias(%b : tensor<4xf16>) : tensor<4x32xi32>, tensor<4xf32>, tensor<32xf32> -> tensor<4x32xf16>
  return
}

// -----

func.func @deq8_bias_type(%c: tensor<4x32xi32>, %r: tensor<4xf32>, %s: tensor<32xf32>, %b: tensor<32xbf16>) {
  // expected-error @+1 {{'bnb.dequantize_int8' op operand #3 must be ranked tensor of 16-bit float values}}
  %y = bnb.dequantize_int8 %c, %r, %s bias(%b : tensor<32xbf16>) : tensor<4x32xi32>, tensor<4xf32>, tensor<32xf32> -> tensor<4x32xf16>
  return
}

// -----

func.func @deq8_result(%c: tensor<4x32xi32>, %r: tensor<4xf32>, %s: tensor<32xf32>) {
  // expected-error @+1 {{'bnb.dequantize_int8' op result shape must equal the input's}}
  %y = bnb.dequantize_int8 %c, %r, %s : tensor<4x32xi32>, tensor<4xf32>, tensor<32xf32> -> tensor<32x4xf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// bnb.quantize_4bit / bnb.dequantize_4bit
//===----------------------------------------------------------------------===//

func.func @q4_blocksize(%w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.quantize_4bit' op blocksize 16 is not one bitsandbytes accepts for 4-bit quantization (32, 64, ..., 4096)}}
  %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>, blocksize = 16 : i64} : tensor<32x16xf16> -> tensor<256x1xui8>, tensor<32xf32>
  return
}

// -----

func.func @q4_packed_length(%w: tensor<3xf32>) {
  // expected-error @+1 {{'bnb.quantize_4bit' op packed result holds 1 bytes but ceil(n/2) = 2 for n = 3}}
  %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>} : tensor<3xf32> -> tensor<1x1xui8>, tensor<1xf32>
  return
}

// -----

func.func @q4_absmax_count(%w: tensor<32x16xf16>) {
  // expected-error @+1 {{'bnb.quantize_4bit' op absmax has 4 entries but ceil(n/blocksize) = 8 for n = 512 and blocksize 64}}
  %p, %a = bnb.quantize_4bit %w {quant_type = #bnb.quant_type<nf4>} : tensor<32x16xf16> -> tensor<256x1xui8>, tensor<4xf32>
  return
}

// -----

func.func @dq4_blocksize(%p: tensor<256x1xui8>, %a: tensor<8xf32>) {
  // expected-error @+1 {{'bnb.dequantize_4bit' op blocksize 8192 is not one bitsandbytes accepts for 4-bit quantization (32, 64, ..., 4096)}}
  %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<fp4>, blocksize = 8192 : i64} : tensor<256x1xui8>, tensor<8xf32> -> tensor<32x16xf16>
  return
}

// -----

func.func @dq4_packed_shape(%p: tensor<128x2xui8>, %a: tensor<8xf32>) {
  // expected-error @+1 {{'bnb.dequantize_4bit' op packed operand must have shape [ceil(n/2), 1], got 'tensor<128x2xui8>'}}
  %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<fp4>} : tensor<128x2xui8>, tensor<8xf32> -> tensor<32x16xf16>
  return
}

// -----

func.func @dq4_absmax(%p: tensor<256x1xui8>, %a: tensor<9xf32>) {
  // expected-error @+1 {{'bnb.dequantize_4bit' op absmax has 9 entries but ceil(n/blocksize) = 8 for n = 512 and blocksize 64}}
  %w = bnb.dequantize_4bit %p, %a {quant_type = #bnb.quant_type<fp4>} : tensor<256x1xui8>, tensor<9xf32> -> tensor<32x16xf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// bnb.quantize_blockwise / bnb.dequantize_blockwise
//===----------------------------------------------------------------------===//

func.func @qb_blocksize(%x: tensor<512xf32>) {
  // expected-error @+1 {{'bnb.quantize_blockwise' op blocksize 32 is not one bitsandbytes accepts for 8-bit blockwise quantization (64, 128, ..., 4096)}}
  %q, %a = bnb.quantize_blockwise %x {blocksize = 32 : i64} : tensor<512xf32> -> tensor<512xui8>, tensor<16xf32>
  return
}

// -----

func.func @qb_codes(%x: tensor<512xf32>) {
  // expected-error @+1 {{'bnb.quantize_blockwise' op codes must have the shape of the data}}
  %q, %a = bnb.quantize_blockwise %x : tensor<512xf32> -> tensor<256xui8>, tensor<2xf32>
  return
}

// -----

func.func @qb_absmax(%x: tensor<512xf32>) {
  // expected-error @+1 {{'bnb.quantize_blockwise' op absmax has 1 entries but ceil(n/blocksize) = 2 for n = 512 and blocksize 256}}
  %q, %a = bnb.quantize_blockwise %x : tensor<512xf32> -> tensor<512xui8>, tensor<1xf32>
  return
}

// -----

func.func @dqb_absmax(%q: tensor<100xui8>, %a: tensor<2xf32>) {
  // expected-error @+1 {{'bnb.dequantize_blockwise' op absmax has 2 entries but ceil(n/blocksize) = 1 for n = 100 and blocksize 256}}
  %x = bnb.dequantize_blockwise %q, %a : tensor<100xui8>, tensor<2xf32> -> tensor<100xf32>
  return
}

// -----

func.func @int8_empty_rows(%x: tensor<2x0xf16>, %w: tensor<1099511627776x0xf16>) {
  // expected-error @+1 {{'bnb.linear_int8' op weight 'tensor<1099511627776x0xf16>' has rows of no element; LLM.int8() needs in_features > 0}}
  %y = bnb.linear_int8 %x, %w {module = "m", threshold = 6.0 : f32} : tensor<2x0xf16>, tensor<1099511627776x0xf16> -> tensor<2x1099511627776xf16>
  return
}

// -----

func.func @l4_shape_overflow(%x: tensor<2x4294967296xf16>, %w: tensor<4294967296x4294967296xf16>) {
  // expected-error @+1 {{'bnb.linear_4bit' op shape [4294967296, 4294967296] has more elements than int64_t holds}}
  %y = bnb.linear_4bit %x, %w {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 4294967296, 4294967296>} : tensor<2x4294967296xf16>, tensor<4294967296x4294967296xf16> -> tensor<2x4294967296xf16>
  return
}

// -----

// n = INT64_MAX: ceil(n / 2) without the overflow of n + 1.
func.func @l4_ceil_div_at_int64_max(%x: tensor<2x1317624576693539401xf16>, %w: tensor<1x1xui8>, %a: tensor<1xf32>) {
  // expected-error @+1 {{'bnb.linear_4bit' op packed weight holds 1 bytes but ceil(n/2) = 4611686018427387904 for n = 9223372036854775807}}
  %y = bnb.linear_4bit %x, %w absmax(%a : tensor<1xf32>) {module = "m", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 7, 1317624576693539401>} : tensor<2x1317624576693539401xf16>, tensor<1x1xui8> -> tensor<2x7xf16>
  return
}
