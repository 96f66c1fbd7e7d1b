// Every invalid configuration is an error at the module that carries it.
// RUN: split-file %s %t
// RUN: bnb-opt %t/both.mlir -bnb-replace-linear="load-in-8bit=true load-in-4bit=true" -verify-diagnostics
// RUN: bnb-opt %t/both-attr.mlir -bnb-replace-linear="load-in-8bit=true" -verify-diagnostics
// RUN: bnb-opt %t/neither.mlir -bnb-replace-linear -verify-diagnostics
// RUN: bnb-opt %t/quant-type.mlir -bnb-replace-linear="load-in-4bit=true bnb-4bit-quant-type=int4" -verify-diagnostics
// RUN: bnb-opt %t/threshold.mlir -bnb-replace-linear="load-in-8bit=true llm-int8-threshold=-1.0" -verify-diagnostics
// RUN: bnb-opt %t/compute-dtype.mlir -bnb-replace-linear="load-in-4bit=true bnb-4bit-compute-dtype=float64" -verify-diagnostics
// RUN: bnb-opt %t/unknown-dtype.mlir -bnb-replace-linear="load-in-4bit=true bnb-4bit-compute-dtype=float8" -verify-diagnostics
// RUN: bnb-opt %t/storage.mlir -bnb-replace-linear="load-in-4bit=true bnb-4bit-quant-storage=int32" -verify-diagnostics
// RUN: bnb-opt %t/blocksize.mlir -bnb-replace-linear="load-in-4bit=true blocksize=100" -verify-diagnostics
// RUN: bnb-opt %t/regex.mlir -bnb-replace-linear="load-in-8bit=true llm-int8-skip-modules=model.(layers" -verify-diagnostics
// RUN: bnb-opt %t/not-config.mlir -bnb-replace-linear="load-in-8bit=true" -verify-diagnostics

//--- both.mlir
// expected-error @below {{load_in_4bit and load_in_8bit are both True, but only one can be used at the same time}}
module {}

//--- both-attr.mlir
// Options override the module's config field by field; the result conflicts.
// expected-error @below {{load_in_4bit and load_in_8bit are both True, but only one can be used at the same time}}
module attributes {bnb.config = #bnb.config<load_in_4bit = true>} {}

//--- neither.mlir
// expected-error @below {{the bitsandbytes config sets neither load_in_8bit nor load_in_4bit}}
module attributes {bnb.config = #bnb.config<bnb_4bit_quant_type = "nf4">} {}

//--- quant-type.mlir
// expected-error @below {{unknown bnb_4bit_quant_type 'int4' (expected "nf4" or "fp4")}}
module {}

//--- threshold.mlir
// expected-error @below {{llm_int8_threshold must be a float >= 0}}
module {}

//--- compute-dtype.mlir
// expected-error @below {{bnb_4bit_compute_dtype must be float16, bfloat16 or float32, got 'float64'}}
module {}

//--- unknown-dtype.mlir
// expected-error @below {{bnb_4bit_compute_dtype must be float16, bfloat16 or float32, got 'float8'}}
module {}

//--- storage.mlir
// expected-error @below {{bnb_4bit_quant_storage must be one of float16, float32, int8, uint8, float64, bfloat16, got 'int32'}}
module {}

//--- blocksize.mlir
// expected-error @below {{blocksize 100 is not one bitsandbytes accepts for 4-bit quantization (32, 64, ..., 4096)}}
module {}

//--- regex.mlir
// expected-error @below {{invalid llm_int8_skip_modules pattern 'model.(layers'}}
module {}

//--- not-config.mlir
// expected-error @below {{module attribute 'bnb.config' must be a #bnb.config}}
module attributes {bnb.config = "load_in_8bit"} {}
