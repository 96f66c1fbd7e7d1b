//===- Passes.td - bnb transformation passes ---------------*- tablegen -*-===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_PASSES_TD
#define BNB_DIALECT_BNB_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

/// The BitsAndBytesConfig options shared by bnb-replace-linear and the
/// bnb-quantize pipeline. Each overrides the module's #bnb.config field of the
/// same name only when it is given.
defvar BnbConfigOptions = [
  Option<"loadIn8bit", "load-in-8bit", "bool", "false",
         "Replace linears with LLM.int8() layers (load_in_8bit)">,
  Option<"loadIn4bit", "load-in-4bit", "bool", "false",
         "Replace linears with 4-bit layers (load_in_4bit)">,
  Option<"llmInt8Threshold", "llm-int8-threshold", "double", "6.0",
         "Outlier threshold of LLM.int8() (llm_int8_threshold)">,
  ListOption<"llmInt8SkipModules", "llm-int8-skip-modules", "std::string",
             "Modules kept in 16 bits; replaces the automatic lm_head list "
             "(llm_int8_skip_modules)">,
  Option<"llmInt8EnableFp32CpuOffload", "llm-int8-enable-fp32-cpu-offload",
         "bool", "false", "llm_int8_enable_fp32_cpu_offload">,
  Option<"llmInt8HasFp16Weight", "llm-int8-has-fp16-weight", "bool", "false",
         "Keep int8 layers' weights in 16 bits and quantize them at run time "
         "(llm_int8_has_fp16_weight)">,
  Option<"bnb4bitComputeDtype", "bnb-4bit-compute-dtype", "std::string",
         "\"float32\"", "Compute dtype of 4-bit layers: float16, bfloat16 or "
         "float32 (bnb_4bit_compute_dtype)">,
  Option<"bnb4bitQuantType", "bnb-4bit-quant-type", "std::string", "\"fp4\"",
         "4-bit code book: nf4 or fp4 (bnb_4bit_quant_type)">,
  Option<"bnb4bitUseDoubleQuant", "bnb-4bit-use-double-quant", "bool",
         "false", "Quantize the 4-bit absmax again (bnb_4bit_use_double_quant)">,
  Option<"bnb4bitQuantStorage", "bnb-4bit-quant-storage", "std::string",
         "\"uint8\"", "Serialized dtype of packed 4-bit weights "
         "(bnb_4bit_quant_storage)">,
  Option<"blocksize", "blocksize", "int64_t", "64",
         "4-bit quantization block size">
];

def BnbReplaceLinear : Pass<"bnb-replace-linear", "::mlir::ModuleOp"> {
  let summary = "Replace linear layers with bnb.linear_int8 / bnb.linear_4bit";
  let description = [{
    What transformers' `replace_with_bnb_linear` does, on the model graph: every
    `linalg.matmul` whose right operand is a weight (a loaded
    `ml_program.global` or a constant) in the `nn.Linear` form `x·Wᵀ` or the
    GPT-2 `Conv1D` form `x·W`, optionally followed by a bias add, becomes one
    `bnb.linear_int8` or `bnb.linear_4bit` on the float weight. Matmuls of two
    activations are never touched. Modules in the skip list keep their 16-bit
    weights; the default list is the automatic one (lm_head and tied weights),
    and a user list replaces it. The config comes from the module's
    `bnb.config` attribute, overridden field by field by the options.
  }];
  let options = BnbConfigOptions;
  let dependentDialects = ["::mlir::bnb::BnbDialect",
                           "::mlir::tensor::TensorDialect"];
}

def BnbQuantizeWeights : Pass<"bnb-quantize-weights", "::mlir::ModuleOp"> {
  let summary = "Quantize the weights of bnb linear layers into a sidecar file";
  let description = [{
    Quantizes the float weight of every `bnb.linear_int8` / `bnb.linear_4bit`
    with the numerics library, exactly as bitsandbytes would, and writes the
    module's weights to a new safetensors file under bitsandbytes' state-dict
    keys (`weight`, `SCB`, `weight.absmax`, `weight.quant_map`,
    `weight.nested_absmax`, `weight.nested_quant_map`,
    `weight.quant_state.bitsandbytes__nf4|fp4`, ...); other weights the module
    uses are copied unchanged. The globals and `bnb.weights` are rewritten to
    point at the new file. Tensors stream one at a time from the
    memory-mapped input, which is never modified. Inline constant weights are
    folded into packed constants and need no file.
  }];
  let options = [
    Option<"weightsPath", "weights", "std::string", "\"\"",
           "Input safetensors file or shard index (default: the module's bnb.weights)">,
    Option<"outputPath", "output", "std::string", "\"\"",
           "Sidecar safetensors file to write (default: the input's name "
           "with .bnb.safetensors)">,
    Option<"numThreads", "threads", "unsigned", "0",
           "Quantization threads (0: hardware concurrency)">
  ];
  let dependentDialects = ["::mlir::bnb::BnbDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::ml_program::MLProgramDialect"];
}

def BnbExpand : Pass<"bnb-expand", "::mlir::ModuleOp"> {
  let summary = "Expand bnb linear layers into the primitive bnb ops";
  let description = [{
    `bnb.linear_int8` becomes `quantize_rowwise`, `outlier_split`,
    `int8_matmul`, `dequantize_int8`, the outlier matmul against the
    dequantized int8 weight columns and an add (no outlier path with
    threshold 0); a float weight (has_fp16_weight, or not yet quantized) is
    quantized at run time. `bnb.linear_4bit` becomes `dequantize_4bit` (after
    `dequantize_blockwise` of the nested absmax under double quantization)
    and a matmul in the compute dtype.
  }];
  let dependentDialects = ["::mlir::bnb::BnbDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def BnbExternalizeWeights : Pass<"bnb-externalize-weights", "::mlir::ModuleOp"> {
  let summary = "Turn weight globals into arguments of the entry points";
  let description = [{
    Every `ml_program.global_load_const` of an external global becomes an
    argument of the public function that loads it, appended after the
    original arguments and tagged with `bnb.weight = "<checkpoint key>"`; the
    globals are erased. The compiled module then takes its weights from the
    caller (bnb-run maps the artifact's weights.safetensors), which keeps the
    bytes out of the IR and out of the compiled code. Globals with an inline
    value become `arith.constant`s.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect"];
}

def BnbPrepareEntryPoints
    : Pass<"bnb-prepare-entry-points", "::mlir::ModuleOp"> {
  let summary = "Give public functions the artifact calling convention";
  let description = [{
    Public functions become entry points a host calls: they get the C
    interface (`llvm.emit_c_interface`, one memref descriptor pointer per
    argument), and their tensor arguments are marked
    `bufferization.writable = false`, because inputs and weights belong to
    the caller (weights are mapped read-only from the artifact).
    Bufferization then never writes into them, and results become
    caller-provided out-parameters. KV caches (`bnb.kv_cache` arguments of
    `prefill`/`decode`) are the exception: writable, updated in place.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def BnbOutlineLayers : Pass<"bnb-outline-layers", "::mlir::ModuleOp"> {
  let summary = "Compile each distinct decoder-layer body once";
  let description = [{
    The frontend wraps each transformer layer in
    `scf.execute_region no_inline {bnb.layer = "model.layers.N"}`. This pass
    outlines every such region into a private function whose arguments are
    the values the layer uses from outside (the hidden state, the layer's
    weights; constants are cloned in), replaces the region with a call, and
    keeps one function per structurally distinct body (scalar constants in
    which layers differ, such as double-quantization offsets, become
    arguments): the N identical
    layers of a decoder become N calls of one function with different
    weights, so that code size and compile time do not grow with depth.
    Run it once layer names no longer matter (after `bnb-expand` or
    `convert-bnb-to-ukernels`). With `inline=true` the regions are inlined
    instead, for pipelines that want one flat function.

    Example: two layers of the same shape become
    `func.call @forward_layer(%h, %w0)` and `func.call @forward_layer(%h1, %w1)`.
  }];
  let options = [
    Option<"inlineOnly", "inline", "bool", "false",
           "Inline the layer regions instead of outlining them">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::scf::SCFDialect"];
}

def BnbDropInOutResults : Pass<"bnb-drop-inout-results", "::mlir::ModuleOp"> {
  let summary = "Turn entry-point results that alias an argument into "
                "in-out arguments";
  let description = [{
    Runs after one-shot bufferization, before results become out-parameters.
    A public function result that every `return` produces as one of the
    function's own memref arguments (a KV cache updated in place by
    `tensor.insert_slice`) is dropped: the caller's buffer already holds it,
    and an out-parameter would copy the whole cache at every call. A result
    marked `bnb.kv_cache` that is not such an argument is an error: its
    cache would be copied or reallocated per token. Upstream
    `drop-equivalent-buffer-results` leaves public functions alone.

    Example: `func.func @decode(%k: memref<1x2x64x16xf32>) ->
    (memref<1x1x32xf32>, memref<1x2x64x16xf32>)` returning `%logits, %k`
    becomes `func.func @decode(%k: memref<1x2x64x16xf32>) ->
    memref<1x1x32xf32>`.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect"];
}

def BnbStripMetadata : Pass<"bnb-strip-metadata", "::mlir::ModuleOp"> {
  let summary = "Drop bnb attributes once the graph is lowered";
  let description = [{
    Removes the `bnb.*` discardable attributes (`bnb.config`, `bnb.weights`,
    `bnb.weight`, `bnb.name`, ...) from every op and function argument, so
    that a lowered module holds only upstream dialects and loads in any
    upstream tool. Tools that need the metadata read it before lowering.
  }];
}

def BnbMemoryReport : Pass<"bnb-memory-report", "::mlir::ModuleOp"> {
  let summary = "Report per-linear and total weight memory";
  let description = [{
    Prints the bytes of every linear layer's weights and the total, as
    transformers' `get_memory_footprint` counts them (parameters plus
    buffers), broken down into packed weights, absmax, nested state, skipped
    16-bit layers, biases and the rest. Quantization statistics that
    `get_memory_footprint` does not count are listed separately. The IR is
    not changed.
  }];
  // The default config (a module without bnb.config) is a bnb attribute.
  let dependentDialects = ["::mlir::bnb::BnbDialect"];
  let options = [
    Option<"json", "json", "bool", "false", "Print JSON instead of a table">,
    Option<"outputPath", "output", "std::string", "\"-\"",
           "Where to write the report ('-' for stdout)">
  ];
}

#endif // BNB_DIALECT_BNB_TRANSFORMS_PASSES_TD
