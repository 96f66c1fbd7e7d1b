//===- BnbAttrs.cpp - bnb attributes --------------------------------------===//

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "bnb/Dialect/Bnb/IR/BnbDialect.h"
#include "bnb/Quant/ConfigRules.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::bnb;

#include "bnb/Dialect/Bnb/IR/BnbEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "bnb/Dialect/Bnb/IR/BnbAttrs.cpp.inc"

void BnbDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "bnb/Dialect/Bnb/IR/BnbAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

bool mlir::bnb::isValid4bitBlocksize(int64_t blocksize) {
  return blocksize >= 32 && blocksize <= 4096 && llvm::isPowerOf2_64(blocksize);
}

bool mlir::bnb::isValidBlockwiseBlocksize(int64_t blocksize) {
  return blocksize >= 64 && blocksize <= 4096 && llvm::isPowerOf2_64(blocksize);
}

bool mlir::bnb::isValidQuantStorage(Type type) {
  if (type.isF16() || type.isBF16() || type.isF32() || type.isF64())
    return true;
  auto intType = dyn_cast<IntegerType>(type);
  // int8 is signless or signed, uint8 is unsigned.
  return intType && intType.getWidth() == 8;
}

bool mlir::bnb::isValidComputeDtype(Type type) {
  return type.isF16() || type.isBF16() || type.isF32();
}

StringRef mlir::bnb::getTorchDtypeName(Type type) {
  if (type.isF16())
    return "float16";
  if (type.isBF16())
    return "bfloat16";
  if (type.isF32())
    return "float32";
  if (type.isF64())
    return "float64";
  if (auto intType = dyn_cast<IntegerType>(type)) {
    if (intType.getWidth() == 8)
      return intType.isUnsigned() ? "uint8" : "int8";
    if (intType.getWidth() == 32 && !intType.isUnsigned())
      return "int32";
    if (intType.getWidth() == 64 && !intType.isUnsigned())
      return "int64";
  }
  return "";
}

Type mlir::bnb::parseDtypeName(MLIRContext *context, StringRef name) {
  name.consume_front("torch.");
  Builder b(context);
  return llvm::StringSwitch<Type>(name)
      .Cases({"float16", "half", "f16"}, b.getF16Type())
      .Cases({"bfloat16", "bf16"}, b.getBF16Type())
      .Cases({"float32", "float", "f32"}, b.getF32Type())
      .Cases({"float64", "double", "f64"}, b.getF64Type())
      .Cases({"uint8", "ui8"}, IntegerType::get(context, 8, IntegerType::Unsigned))
      .Cases({"int8", "i8"}, b.getI8Type())
      .Default(Type());
}

//===----------------------------------------------------------------------===//
// ConfigAttr
//===----------------------------------------------------------------------===//

ConfigAttr ConfigAttr::getDefault(MLIRContext *context) {
  Builder b(context);
  return ConfigAttr::get(
      context, /*loadIn8bit=*/false, /*loadIn4bit=*/false,
      /*llmInt8Threshold=*/llvm::APFloat(6.0), /*llmInt8SkipModules=*/nullptr,
      /*llmInt8EnableFp32CpuOffload=*/false, /*llmInt8HasFp16Weight=*/false,
      /*bnb4bitComputeDtype=*/b.getF32Type(),
      /*bnb4bitQuantType=*/QuantType::fp4, /*bnb4bitUseDoubleQuant=*/false,
      /*bnb4bitQuantStorage=*/
      IntegerType::get(context, 8, IntegerType::Unsigned));
}

LogicalResult
ConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                   bool loadIn8bit, bool loadIn4bit, llvm::APFloat threshold,
                   ArrayAttr skipModules, bool /*enableFp32CpuOffload*/,
                   bool /*hasFp16Weight*/, Type computeDtype,
                   QuantType /*quantType*/, bool /*useDoubleQuant*/,
                   Type quantStorage) {
  if (loadIn8bit && loadIn4bit)
    return emitError() << ::bnb::quant::kBothLoadsMessage;
  if (!::bnb::quant::isValidThreshold(threshold.convertToDouble()))
    return emitError() << "llm_int8_threshold must be a float >= 0";
  if (skipModules) {
    for (Attribute entry : skipModules)
      if (!isa<StringAttr>(entry))
        return emitError()
               << "llm_int8_skip_modules must be a list of strings";
  }
  if (!computeDtype || !isValidComputeDtype(computeDtype))
    return emitError() << "bnb_4bit_compute_dtype must be f16, bf16 or f32";
  if (!quantStorage || !isValidQuantStorage(quantStorage))
    return emitError() << ::bnb::quant::quantStorageMessage();
  return success();
}

namespace {
/// Field names exactly as BitsAndBytesConfig spells them.
constexpr StringLiteral kLoadIn8bit = "load_in_8bit";
constexpr StringLiteral kLoadIn4bit = "load_in_4bit";
constexpr StringLiteral kThreshold = "llm_int8_threshold";
constexpr StringLiteral kSkipModules = "llm_int8_skip_modules";
constexpr StringLiteral kCpuOffload = "llm_int8_enable_fp32_cpu_offload";
constexpr StringLiteral kHasFp16Weight = "llm_int8_has_fp16_weight";
constexpr StringLiteral kComputeDtype = "bnb_4bit_compute_dtype";
constexpr StringLiteral kQuantType = "bnb_4bit_quant_type";
constexpr StringLiteral kDoubleQuant = "bnb_4bit_use_double_quant";
constexpr StringLiteral kQuantStorage = "bnb_4bit_quant_storage";
} // namespace

Attribute ConfigAttr::parse(AsmParser &parser, Type) {
  MLIRContext *ctx = parser.getContext();
  ConfigAttr defaults = getDefault(ctx);
  bool loadIn8bit = defaults.getLoadIn8bit();
  bool loadIn4bit = defaults.getLoadIn4bit();
  llvm::APFloat threshold = defaults.getLlmInt8Threshold();
  ArrayAttr skipModules;
  bool cpuOffload = false, hasFp16Weight = false, doubleQuant = false;
  Type computeDtype = defaults.getBnb4bitComputeDtype();
  QuantType quantType = defaults.getBnb4bitQuantType();
  Type quantStorage = defaults.getBnb4bitQuantStorage();
  llvm::StringSet<> seen;

  auto parseBool = [&](bool &value) -> ParseResult {
    if (succeeded(parser.parseOptionalKeyword("true"))) {
      value = true;
      return success();
    }
    if (succeeded(parser.parseOptionalKeyword("false"))) {
      value = false;
      return success();
    }
    return parser.emitError(parser.getCurrentLocation(),
                            "expected 'true' or 'false'");
  };

  auto parseField = [&]() -> ParseResult {
    SMLoc loc = parser.getCurrentLocation();
    std::string key;
    if (parser.parseKeywordOrString(&key) || parser.parseEqual())
      return failure();
    if (!seen.insert(key).second)
      return parser.emitError(loc, "duplicate field '") << key << "'";
    if (key == kLoadIn8bit)
      return parseBool(loadIn8bit);
    if (key == kLoadIn4bit)
      return parseBool(loadIn4bit);
    if (key == kCpuOffload)
      return parseBool(cpuOffload);
    if (key == kHasFp16Weight)
      return parseBool(hasFp16Weight);
    if (key == kDoubleQuant)
      return parseBool(doubleQuant);
    if (key == kThreshold) {
      double value;
      if (parser.parseFloat(value))
        return failure();
      threshold = llvm::APFloat(value);
      return success();
    }
    if (key == kSkipModules) {
      Attribute attr;
      if (parser.parseAttribute(attr))
        return failure();
      skipModules = dyn_cast<ArrayAttr>(attr);
      if (!skipModules)
        return parser.emitError(loc, "llm_int8_skip_modules must be a list "
                                     "of strings");
      return success();
    }
    if (key == kComputeDtype || key == kQuantStorage) {
      Type type;
      std::string name;
      SMLoc typeLoc = parser.getCurrentLocation();
      if (succeeded(parser.parseOptionalString(&name))) {
        type = parseDtypeName(ctx, name);
        if (!type)
          return parser.emitError(typeLoc, "unknown dtype '") << name << "'";
      } else if (parser.parseType(type)) {
        return failure();
      }
      (key == kComputeDtype ? computeDtype : quantStorage) = type;
      return success();
    }
    if (key == kQuantType) {
      std::string name;
      SMLoc typeLoc = parser.getCurrentLocation();
      if (parser.parseKeywordOrString(&name))
        return failure();
      std::optional<QuantType> parsed = symbolizeQuantType(name);
      if (!parsed)
        return parser.emitError(typeLoc, "unknown bnb_4bit_quant_type '")
               << name << "' (expected \"nf4\" or \"fp4\")";
      quantType = *parsed;
      return success();
    }
    return parser.emitError(loc, "unknown BitsAndBytesConfig field '")
           << key << "'";
  };

  if (parser.parseLess())
    return {};
  if (failed(parser.parseOptionalGreater())) {
    if (parser.parseCommaSeparatedList(parseField) || parser.parseGreater())
      return {};
  }
  return parser.getChecked<ConfigAttr>(
      ctx, loadIn8bit, loadIn4bit, threshold, skipModules, cpuOffload,
      hasFp16Weight, computeDtype, quantType, doubleQuant, quantStorage);
}

void ConfigAttr::print(AsmPrinter &printer) const {
  ConfigAttr defaults = getDefault(getContext());
  SmallVector<std::function<void()>> fields;
  auto addBool = [&](StringLiteral name, bool value, bool def) {
    if (value != def)
      fields.push_back([&printer, name, value] {
        printer << name << " = " << (value ? "true" : "false");
      });
  };
  addBool(kLoadIn8bit, getLoadIn8bit(), false);
  addBool(kLoadIn4bit, getLoadIn4bit(), false);
  if (getLlmInt8Threshold() != defaults.getLlmInt8Threshold())
    fields.push_back([&] {
      printer << kThreshold << " = ";
      printer.printFloat(getLlmInt8Threshold());
    });
  if (getLlmInt8SkipModules())
    fields.push_back([&] {
      printer << kSkipModules << " = ";
      printer.printAttribute(getLlmInt8SkipModules());
    });
  addBool(kCpuOffload, getLlmInt8EnableFp32CpuOffload(), false);
  addBool(kHasFp16Weight, getLlmInt8HasFp16Weight(), false);
  if (getBnb4bitComputeDtype() != defaults.getBnb4bitComputeDtype())
    fields.push_back([&] {
      printer << kComputeDtype << " = " << getBnb4bitComputeDtype();
    });
  if (getBnb4bitQuantType() != defaults.getBnb4bitQuantType())
    fields.push_back([&] {
      printer << kQuantType << " = \""
              << stringifyQuantType(getBnb4bitQuantType()) << "\"";
    });
  addBool(kDoubleQuant, getBnb4bitUseDoubleQuant(), false);
  if (getBnb4bitQuantStorage() != defaults.getBnb4bitQuantStorage())
    fields.push_back([&] {
      printer << kQuantStorage << " = " << getBnb4bitQuantStorage();
    });
  printer << "<";
  llvm::interleaveComma(fields, printer, [](auto &fn) { fn(); });
  printer << ">";
}
