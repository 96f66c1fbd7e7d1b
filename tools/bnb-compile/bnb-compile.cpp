//===- bnb-compile.cpp - compile a model graph into an artifact ------------===//
//
//   bnb-compile MODEL.mlir --weights W.safetensors --config quant.json
//               --target cpu[:LEVEL]|cuda:sm_90|cuda:sm_80 -o NAME.bnb [--force]
//
// Quantizes the graph's linear layers as transformers + bitsandbytes would
// for the given quantization_config (layers of a pre-quantized checkpoint
// keep their stored state; a --config conflicting with the one they were
// quantized with is an error), lowers it for the target and writes
// NAME.bnb/ (manifest.json, model.so, weights.safetensors) atomically.
//
//===----------------------------------------------------------------------===//

#include "ComputeDtypeOverride.h"
#include "PrequantizedConfig.h"

#include "bnb/Config.h"
#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "bnb/Dialect/Bnb/Utils/DTypeMapping.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "bnb/InitAll.h"
#include "bnb/Quant/QuantConfig.h"
#include "bnb/Support/FileSafety.h"
#include "bnb/Support/BoundedJson.h"
#include "bnb/Support/DType.h"
#include "bnb/Support/Escape.h"
#include "bnb/Support/MlirNesting.h"
#include "bnb/Support/MlirParserGuards.h"
#include "bnb/Support/ToolCommandLine.h"
#include "bnb/Target/Artifact.h"
#include "bnb/Target/TypeSizes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

/// bnb-compile's own options; --help hides the ones libLLVM registers.
static cl::OptionCategory category("bnb-compile options");

static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<MODEL.mlir>"),
                                      cl::cat(category));
static cl::opt<std::string>
    weightsPath("weights",
                cl::desc("The graph's weights (safetensors); default: the "
                         "module's bnb.weights"),
                cl::cat(category));
static cl::opt<std::string>
    configPath("config",
               cl::desc("transformers quantization_config JSON (or a "
                        "config.json holding one); optional for a "
                        "pre-quantized graph, which carries its own"),
               cl::cat(category));
static cl::opt<std::string> computeDtype(
    "bnb-4bit-compute-dtype",
    cl::desc("Compute the 4-bit layers in this dtype (float32, bfloat16 or "
             "float16) instead of the config's, also for a pre-quantized "
             "graph; the stored bytes do not depend on it"),
    cl::value_desc("DTYPE"), cl::cat(category));
static cl::opt<std::string> target("target", cl::init("cpu"),
                                   cl::desc("cpu (this machine's CPU, as -march=native), "
                                            "cpu:x86-64-v3, cpu:x86-64-v4, "
                                            "cpu:generic (portable levels), "
                                            "cuda:sm_80 or cuda:sm_90"),
                                   cl::cat(category));
static cl::opt<std::string> tokenizerDir(
    "tokenizer",
    cl::desc("Directory whose tokenizer files (tokenizer.json, "
             "tokenizer_config.json, special_tokens_map.json, "
             "generation_config.json, chat_template.jinja) the artifact "
             "carries (default: the weights' directory, when it has a "
             "tokenizer.json)"),
    cl::value_desc("DIR"), cl::cat(category));
static cl::opt<std::string>
    outputPath("o", cl::Required, cl::desc("The artifact to write (NAME.bnb)"),
               cl::value_desc("NAME.bnb"), cl::cat(category));
static cl::opt<bool> force("force", cl::desc("Replace an existing artifact"),
                           cl::cat(category));
static cl::opt<unsigned> optLevel("O", cl::init(2), cl::Prefix,
                                  cl::desc("Host code optimization level"),
                                  cl::cat(category));
static cl::opt<bool> quiet("quiet", cl::desc("No progress on stderr"),
                           cl::cat(category));
static cl::opt<bool>
    withCpu("with-cpu",
            cl::desc("For a cuda target, also build the model for the CPU "
                     "(bnb-run uses it where there is no GPU)"),
            cl::cat(category));
static cl::opt<bool>
    memoryReport("memory-report",
                 cl::desc("Print the weight memory per layer and in total"),
                 cl::cat(category));

namespace {
int fail(const llvm::Twine &message) {
  llvm::errs() << "error: " << ::bnb::escapeForMessage(message.str()) << "\n";
  return 1;
}

/// The #bnb.config of a validated transformers config.
mlir::bnb::ConfigAttr toConfigAttr(MLIRContext *ctx,
                             const ::bnb::quant::QuantConfig &c) {
  Builder b(ctx);
  ArrayAttr skip;
  if (c.llmInt8SkipModules) {
    SmallVector<Attribute> names;
    for (const std::string &name : *c.llmInt8SkipModules)
      names.push_back(b.getStringAttr(name));
    skip = b.getArrayAttr(names);
  }
  return mlir::bnb::ConfigAttr::get(
      ctx, c.loadIn8bit, c.loadIn4bit,
      llvm::APFloat(static_cast<double>(c.llmInt8Threshold)), skip,
      c.llmInt8EnableFp32CpuOffload, c.llmInt8HasFp16Weight,
      mlir::bnb::fromDType(ctx, c.bnb4bitComputeDtype),
      c.bnb4bitQuantType == ::bnb::quant::QuantType::NF4 ? mlir::bnb::QuantType::nf4
                                                         : mlir::bnb::QuantType::fp4,
      c.bnb4bitUseDoubleQuant, mlir::bnb::fromDType(ctx, c.bnb4bitQuantStorage));
}

/// The quantization_config transformers saves (to_dict()) for `c`: the
/// manifest's config of a pre-quantized graph compiled without --config.
llvm::json::Object configJsonOf(mlir::bnb::ConfigAttr c) {
  auto dtypeName = [](Type type) -> llvm::json::Value {
    std::optional<::bnb::DType> dtype =
        type ? mlir::bnb::toDType(type) : std::nullopt;
    if (!dtype)
      return nullptr;
    return ::bnb::torchDtypeName(*dtype).str();
  };
  llvm::json::Value skip = nullptr;
  if (ArrayAttr modules = c.getLlmInt8SkipModules()) {
    llvm::json::Array names;
    for (Attribute name : modules)
      if (auto text = dyn_cast<StringAttr>(name))
        names.push_back(text.str());
    skip = std::move(names);
  }
  return llvm::json::Object{
      {"quant_method", "bitsandbytes"},
      {"load_in_8bit", c.getLoadIn8bit()},
      {"load_in_4bit", c.getLoadIn4bit()},
      {"llm_int8_threshold", c.getLlmInt8Threshold().convertToDouble()},
      {"llm_int8_skip_modules", std::move(skip)},
      {"llm_int8_enable_fp32_cpu_offload", c.getLlmInt8EnableFp32CpuOffload()},
      {"llm_int8_has_fp16_weight", c.getLlmInt8HasFp16Weight()},
      {"bnb_4bit_compute_dtype", dtypeName(c.getBnb4bitComputeDtype())},
      {"bnb_4bit_quant_type",
       mlir::bnb::stringifyQuantType(c.getBnb4bitQuantType()).str()},
      {"bnb_4bit_use_double_quant", c.getBnb4bitUseDoubleQuant()},
      {"bnb_4bit_quant_storage", dtypeName(c.getBnb4bitQuantStorage())}};
}

/// The quantization_config object of the config file, for the manifest.
llvm::json::Object configJson(llvm::StringRef text) {
  llvm::Expected<llvm::json::Value> value = ::bnb::parseBoundedJson(text);
  if (!value) {
    llvm::consumeError(value.takeError());
    return {};
  }
  llvm::json::Object *object = value->getAsObject();
  if (!object)
    return {};
  if (llvm::json::Object *nested = object->getObject("quantization_config"))
    return *nested;
  return *object;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "bnb-compile (bnb-mlir " << BNB_VERSION_STRING << ", LLVM "
       << LLVM_VERSION_STRING << ")\n";
  });
  cl::HideUnrelatedOptions(category);
  if (!::bnb::parseToolCommandLine(
          argc, argv, "compile a model graph into a bnb artifact\n"))
    return 1;

  if (withCpu && !llvm::StringRef(target).starts_with("cuda:"))
    return fail("--with-cpu adds a CPU build to a cuda target; --target is '" +
                target + "'");

  // Inputs must be regular files: a FIFO or a device would hang the reader
  // or grow it without bound.
  for (const std::string &input : {configPath.getValue(), modelPath.getValue(),
                                   weightsPath.getValue()})
    if (llvm::Error error = ::bnb::checkRegularInput(input))
      return fail(llvm::toString(std::move(error)));

  // The config first: a bad config should not wait for parsing the graph.
  std::optional<::bnb::quant::QuantConfig> config;
  llvm::json::Object givenJson;
  if (!configPath.empty()) {
    auto configText = llvm::MemoryBuffer::getFile(configPath);
    if (!configText)
      return fail("cannot read '" + configPath +
                  "': " + configText.getError().message());
    std::vector<std::string> notes;
    llvm::Expected<::bnb::quant::QuantConfig> parsed =
        ::bnb::quant::parseQuantConfig((*configText)->getBuffer(), configPath,
                                       notes);
    if (!parsed)
      return fail(llvm::toString(parsed.takeError()));
    if (!quiet)
      for (const std::string &note : notes)
        llvm::errs() << "note: " << note << "\n";
    config = *parsed;
    givenJson = configJson((*configText)->getBuffer());
  }

  DialectRegistry registry;
  ::bnb::registerAllDialects(registry);
  registerAllToLLVMIRTranslations(registry);
  ::bnb::registerAllPasses();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  std::string firstError;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    if (diag.getSeverity() == DiagnosticSeverity::Error && firstError.empty()) {
      llvm::raw_string_ostream os(firstError);
      if (auto file = dyn_cast<FileLineColLoc>(diag.getLocation()))
        os << file.getFilename().getValue() << ":" << file.getLine() << ":"
           << file.getColumn() << ": ";
      os << diag.str();
    }
    return success();
  });
  llvm::SourceMgr sourceMgr;
  auto modelText = llvm::MemoryBuffer::getFile(modelPath);
  if (!modelText)
    return fail("cannot read '" + modelPath +
                "': " + modelText.getError().message());
  if (llvm::Error error =
          ::bnb::checkMlirNesting((*modelText)->getBuffer(), modelPath))
    return fail(llvm::toString(std::move(error)));
  if (llvm::Error error =
          ::bnb::checkMlirParserGuards((*modelText)->getBuffer(), modelPath))
    return fail(llvm::toString(std::move(error)));
  sourceMgr.AddNewSourceBuffer(std::move(*modelText), llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
  if (!module)
    return fail(firstError.empty() ? "cannot parse '" + modelPath + "'"
                                   : firstError);

  Type computeOverride;
  if (computeDtype.getNumOccurrences()) {
    llvm::Expected<Type> parsed =
        ::bnb::tools::parseComputeDtypeFlag(&context, computeDtype);
    if (!parsed)
      return fail(llvm::toString(parsed.takeError()));
    computeOverride = *parsed;
  }

  mlir::bnb::ConfigAttr givenConfig;
  if (config) {
    givenConfig = toConfigAttr(&context, *config);
    std::string conflict = ::bnb::tools::prequantizedConfigConflict(
        *module, givenConfig, configPath);
    if (!conflict.empty())
      return fail(conflict);
  } else {
    // No --config: a pre-quantized graph brings the config its layers were
    // quantized with (import reads it from the checkpoint's config.json).
    givenConfig = (*module)->getAttrOfType<mlir::bnb::ConfigAttr>(
        mlir::bnb::ConfigAttr::getModuleAttrName());
    if (!givenConfig || !::bnb::tools::hasPrequantizedLayers(*module))
      return fail("'" + modelPath +
                  "' is not a pre-quantized graph; --config names the "
                  "quantization_config to compile it with");
    givenJson = configJsonOf(givenConfig);
  }
  // After the conflict check: the override is a choice of this compile, not
  // a different quantization_config.
  if (computeOverride) {
    llvm::Expected<mlir::bnb::ConfigAttr> overridden =
        ::bnb::tools::overrideComputeDtype(*module, givenConfig,
                                           computeOverride);
    if (!overridden)
      return fail(llvm::toString(overridden.takeError()));
    givenConfig = *overridden;
    givenJson["bnb_4bit_compute_dtype"] =
        ::bnb::torchDtypeName(*mlir::bnb::toDType(computeOverride)).str();
  }
  if (llvm::Error error = ::bnb::checkTypeSizes(*module))
    return fail(llvm::toString(std::move(error)));
  (*module)->setAttr(mlir::bnb::ConfigAttr::getModuleAttrName(), givenConfig);
  // Weights named relative to the graph live next to it.
  std::string weights = weightsPath;
  if (weights.empty())
    if (auto attr = (*module)->getAttrOfType<StringAttr>(mlir::bnb::kWeightsFileAttr)) {
      llvm::SmallString<256> resolved(llvm::sys::path::parent_path(modelPath));
      llvm::sys::path::append(resolved, attr.getValue());
      weights = llvm::sys::path::is_absolute(attr.getValue())
                    ? attr.getValue().str()
                    : resolved.str().str();
    }
  if (!weights.empty() && !llvm::sys::fs::exists(weights))
    return fail("cannot read weights '" + weights + "': no such file");
  if (llvm::Error error = ::bnb::checkRegularInput(weights))
    return fail("weights: " + llvm::toString(std::move(error)));

  ::bnb::CompileOptions options;
  options.tokenizerDir = tokenizerDir;
  if (tokenizerDir.empty() && !weights.empty()) {
    llvm::SmallString<256> probe(llvm::sys::path::parent_path(weights));
    llvm::sys::path::append(probe, "tokenizer.json");
    if (llvm::sys::fs::is_regular_file(probe))
      options.tokenizerDir = llvm::sys::path::parent_path(weights).str();
  } else if (!tokenizerDir.empty() &&
             !llvm::sys::fs::is_directory(tokenizerDir)) {
    return fail("--tokenizer '" + tokenizerDir + "' is not a directory");
  }
  options.weightsPath = weights;
  options.target = target;
  options.outputPath = outputPath;
  options.force = force;
  options.inputs = {modelPath};
  if (!configPath.empty())
    options.inputs.push_back(configPath);
  options.optLevel = optLevel;
  options.config = std::move(givenJson);
  options.printMemoryReport = memoryReport;
  options.withCpuBuild = withCpu;
  if (!quiet)
    options.progress = [](llvm::StringRef line) {
      llvm::errs() << "bnb-compile: " << line << "\n";
    };
  if (llvm::Error error = ::bnb::compileArtifact(*module, options))
    return fail(llvm::toString(std::move(error)));
  return 0;
}
