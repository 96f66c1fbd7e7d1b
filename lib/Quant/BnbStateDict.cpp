//===- BnbStateDict.cpp - bitsandbytes' serialized layer format -----------===//

#include "bnb/Quant/BnbStateDict.h"
#include "bnb/Quant/Int8.h"
#include "bnb/Quant/Tables.h"
#include "bnb/Support/BoundedJson.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <charconv>
#include <cmath>
#include <cstring>

using namespace bnb;
using namespace bnb::quant;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {

Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

template <typename T> std::vector<uint8_t> toBytes(const std::vector<T> &v) {
  std::vector<uint8_t> bytes(v.size() * sizeof(T));
  if (!bytes.empty())
    std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

std::vector<uint8_t> floatBytes(const float *values, size_t n) {
  std::vector<uint8_t> bytes(n * sizeof(float));
  if (n)
    std::memcpy(bytes.data(), values, bytes.size());
  return bytes;
}

uint64_t product(llvm::ArrayRef<int64_t> shape) {
  uint64_t n = 1;
  for (int64_t d : shape)
    n *= static_cast<uint64_t>(d);
  return n;
}

std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// Replaces the bare tokens NaN, Infinity and -Infinity that Python's json
/// writes (outside strings) by JSON strings, so llvm::json can parse them.
std::string quoteNonFiniteTokens(StringRef json) {
  std::string out;
  bool inString = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (inString) {
      out += c;
      if (c == '\\' && i + 1 < json.size())
        out += json[++i];
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
      out += c;
      continue;
    }
    bool matched = false;
    for (StringRef token : {"-Infinity", "Infinity", "NaN"})
      if (json.substr(i).starts_with(token)) {
        out += "\"" + token.str() + "\"";
        i += token.size() - 1;
        matched = true;
        break;
      }
    if (!matched)
      out += c;
  }
  return out;
}

/// The packed-weight row count (n+1) // (2 * itemsize), or an error when the
/// packed bytes do not fill whole storage elements.
Expected<int64_t> packedRows(uint64_t numel, DType storage, StringRef key) {
  uint64_t bytes = packedSize(numel);
  uint64_t item = dtypeSize(storage);
  if (bytes % item != 0)
    return makeError(llvm::formatv("'{0}': {1} packed bytes are not a "
                                   "multiple of the {2}-byte quant storage "
                                   "type {3}",
                                   key, bytes, item, torchDtypeName(storage)));
  return static_cast<int64_t>(bytes / item);
}

} // namespace

std::string bnb::quant::pythonFloatRepr(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0.0)
    return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits, in scientific form d.ddde[+-]x.
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), v,
                              std::chars_format::scientific);
  std::string text(buffer, result.ptr);
  std::string sign;
  if (text[0] == '-') {
    sign = "-";
    text.erase(0, 1);
  }
  size_t ePos = text.find('e');
  std::string mantissa = text.substr(0, ePos);
  int exponent = std::stoi(text.substr(ePos + 1));
  std::string digits;
  for (char c : mantissa)
    if (c != '.')
      digits += c;
  // Python's float_repr_style 'short': decpt is the position of the decimal
  // point relative to the digits; exponent form when decpt <= -4 or > 16.
  int decpt = exponent + 1;
  if (decpt <= -4 || decpt > 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1)
      out += "." + digits.substr(1);
    int e = decpt - 1;
    char exp[16];
    std::snprintf(exp, sizeof(exp), "e%c%02d", e < 0 ? '-' : '+', std::abs(e));
    return out + exp;
  }
  if (decpt <= 0)
    return sign + "0." + std::string(-decpt, '0') + digits;
  if (static_cast<size_t>(decpt) >= digits.size())
    return sign + digits + std::string(decpt - digits.size(), '0') + ".0";
  return sign + digits.substr(0, decpt) + "." + digits.substr(decpt);
}

std::string bnb::quant::quantStateJson(QuantType qt, int64_t blocksize,
                                       DType originalDtype,
                                       llvm::ArrayRef<int64_t> shape,
                                       std::optional<float> nestedOffset) {
  std::string json = "{\"quant_type\": \"" + quantTypeName(qt).str() +
                     "\", \"blocksize\": " + std::to_string(blocksize) +
                     ", \"dtype\": \"" + torchDtypeName(originalDtype).str() +
                     "\", \"shape\": " + shapeString(shape);
  if (nestedOffset)
    json += ", \"nested_blocksize\": " + std::to_string(kNestedBlocksize) +
            ", \"nested_dtype\": \"float32\", \"nested_offset\": " +
            pythonFloatRepr(static_cast<double>(*nestedOffset));
  return json + "}";
}

std::string bnb::quant::quantStateKey(QuantType qt) {
  return "weight.quant_state.bitsandbytes__" + quantTypeName(qt).str();
}

Expected<QuantStateInfo> bnb::quant::parseQuantStateJson(StringRef json) {
  Expected<llvm::json::Value> parsed =
      ::bnb::parseBoundedJson(quoteNonFiniteTokens(json));
  if (!parsed)
    return makeError("quant_state is not valid JSON: " +
                     llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return makeError("quant_state is not a JSON object");

  QuantStateInfo info;
  std::optional<StringRef> quantType = root->getString("quant_type");
  if (!quantType)
    return makeError("quant_state has no string 'quant_type'");
  std::optional<QuantType> qt = parseQuantType(*quantType);
  if (!qt)
    return makeError("quant_state has an unknown quant_type '" + *quantType +
                     "'");
  info.quantType = *qt;

  std::optional<int64_t> blocksize = root->getInteger("blocksize");
  if (!blocksize || !isValid4bitBlocksize(*blocksize))
    return makeError("quant_state 'blocksize' is not one of 32, 64, ..., 4096");
  info.blocksize = *blocksize;

  std::optional<StringRef> dtypeName = root->getString("dtype");
  std::optional<DType> dtype =
      dtypeName ? parseTorchDtype(*dtypeName) : std::nullopt;
  if (!dtype || !isFloatingDType(*dtype) || *dtype == DType::F64)
    return makeError("quant_state 'dtype' is not float16, bfloat16 or "
                     "float32");
  info.dtype = *dtype;

  const llvm::json::Array *shape = root->getArray("shape");
  if (!shape)
    return makeError("quant_state has no array 'shape'");
  for (const llvm::json::Value &dim : *shape) {
    std::optional<int64_t> d = dim.getAsInteger();
    if (!d || *d < 0)
      return makeError("quant_state 'shape' holds something other than a "
                       "non-negative integer");
    info.shape.push_back(*d);
  }

  const llvm::json::Value *offset = root->get("nested_offset");
  const llvm::json::Value *nestedBlocksize = root->get("nested_blocksize");
  const llvm::json::Value *nestedDtype = root->get("nested_dtype");
  if (offset || nestedBlocksize || nestedDtype) {
    if (!offset || !nestedBlocksize || !nestedDtype)
      return makeError("quant_state has some but not all of nested_offset, "
                       "nested_blocksize and nested_dtype");
    if (nestedBlocksize->getAsInteger() != kNestedBlocksize)
      return makeError("quant_state 'nested_blocksize' is not 256");
    if (nestedDtype->getAsString() != StringRef("float32"))
      return makeError("quant_state 'nested_dtype' is not float32");
    double value;
    if (std::optional<double> number = offset->getAsNumber()) {
      value = *number;
    } else if (std::optional<StringRef> token = offset->getAsString();
               token && (*token == "NaN" || *token == "Infinity" ||
                         *token == "-Infinity")) {
      value = *token == "NaN"        ? std::nan("")
              : *token == "Infinity" ? INFINITY
                                     : -INFINITY;
    } else {
      return makeError("quant_state 'nested_offset' is not a number");
    }
    info.nestedOffset = static_cast<float>(value);
  }
  return info;
}

bool bnb::quant::isValidQuantStorage(DType dt) {
  return dt == DType::F16 || dt == DType::F32 || dt == DType::I8 ||
         dt == DType::U8 || dt == DType::F64 || dt == DType::BF16;
}

Quantized4bit bnb::quant::quantizeLinear4bit(const void *w, DType dt,
                                             llvm::ArrayRef<int64_t> shape,
                                             QuantType qt, int64_t blocksize,
                                             bool doubleQuant,
                                             DType quantStorage,
                                             llvm::ThreadPoolInterface *pool) {
  Quantized4bit q =
      Quantized4bit::describe(qt, blocksize, dt, shape, quantStorage);
  size_t n = product(shape);
  q.packed.resize(packedSize(n));
  q.absmax.resize(numBlocks(n, blocksize));
  quantize4bit(w, dt, n, qt, blocksize, q.packed.data(), q.absmax.data(), pool);
  if (doubleQuant)
    q.nested = doubleQuantize(q.absmax.data(), q.absmax.size(), pool);
  return q;
}

Expected<std::vector<SafetensorsTensorDecl>>
bnb::quant::linear4bitDecls(StringRef prefix, QuantType qt, int64_t blocksize,
                            DType dtype, llvm::ArrayRef<int64_t> shape,
                            DType quantStorage, bool nested,
                            std::optional<float> nestedOffset) {
  std::string weightKey = prefix.str() + "weight";
  uint64_t n = product(shape);
  Expected<int64_t> rows = packedRows(n, quantStorage, weightKey);
  if (!rows)
    return rows.takeError();
  int64_t nblocks = static_cast<int64_t>(numBlocks(n, blocksize));
  std::vector<SafetensorsTensorDecl> decls;
  decls.push_back({weightKey, quantStorage, {*rows, 1}});
  decls.push_back(
      {weightKey + ".absmax", nested ? DType::U8 : DType::F32, {nblocks}});
  decls.push_back({weightKey + ".quant_map", DType::F32, {16}});
  if (nested) {
    decls.push_back(
        {weightKey + ".nested_absmax",
         DType::F32,
         {static_cast<int64_t>(numBlocks(nblocks, kNestedBlocksize))}});
    decls.push_back({weightKey + ".nested_quant_map", DType::F32, {256}});
  }
  std::string json =
      quantStateJson(qt, blocksize, dtype, shape,
                     nested ? std::optional<float>(nestedOffset.value_or(0.0f))
                            : std::nullopt);
  decls.push_back({prefix.str() + quantStateKey(qt),
                   DType::U8,
                   {static_cast<int64_t>(json.size())}});
  return decls;
}

Expected<std::vector<StateTensor>>
bnb::quant::linear4bitTensors(StringRef prefix, const Quantized4bit &q) {
  Quantized4bit copy = q;
  return linear4bitTensors(prefix, std::move(copy));
}

Expected<std::vector<StateTensor>>
bnb::quant::linear4bitTensors(StringRef prefix, Quantized4bit &&q) {
  std::optional<float> offset;
  if (q.nested)
    offset = q.nested->offset;
  Expected<std::vector<SafetensorsTensorDecl>> decls =
      linear4bitDecls(prefix, q.quantType, q.blocksize, q.dtype, q.shape,
                      q.quantStorage, q.nested.has_value(), offset);
  if (!decls)
    return decls.takeError();
  std::vector<StateTensor> tensors;
  auto add = [&](size_t i, std::vector<uint8_t> bytes) {
    const SafetensorsTensorDecl &decl = (*decls)[i];
    tensors.push_back({decl.name, decl.dtype, decl.shape, std::move(bytes)});
  };
  size_t i = 0;
  add(i++, std::move(q.packed));
  add(i++, q.nested ? std::move(q.nested->codes)
                    : floatBytes(q.absmax.data(), q.absmax.size()));
  float quantMap[16];
  serializedQuantMap(q.quantType, quantMap);
  add(i++, floatBytes(quantMap, 16));
  if (q.nested) {
    add(i++, toBytes(q.nested->nestedAbsmax));
    add(i++, floatBytes(kDynamicMap, 256));
  }
  std::string json =
      quantStateJson(q.quantType, q.blocksize, q.dtype, q.shape, offset);
  add(i++, std::vector<uint8_t>(json.begin(), json.end()));
  return tensors;
}

QuantizedInt8 bnb::quant::quantizeLinear8bit(const void *w, DType dt,
                                             int64_t rows, int64_t cols,
                                             llvm::ThreadPoolInterface *pool) {
  QuantizedInt8 q;
  q.rows = rows;
  q.cols = cols;
  q.cb.resize(static_cast<size_t>(rows * cols));
  q.scb.resize(static_cast<size_t>(rows));
  quantizeRowwise(w, dt, rows, cols, 0.0f, q.cb.data(), q.scb.data(), pool);
  return q;
}

std::vector<SafetensorsTensorDecl>
bnb::quant::linear8bitDecls(StringRef prefix, int64_t rows, int64_t cols) {
  return {{prefix.str() + "weight", DType::I8, {rows, cols}},
          {prefix.str() + "SCB", DType::F32, {rows}},
          {prefix.str() + "weight_format", DType::U8, {}}};
}

std::vector<StateTensor> bnb::quant::linear8bitTensors(StringRef prefix,
                                                       const QuantizedInt8 &q) {
  std::vector<SafetensorsTensorDecl> decls =
      linear8bitDecls(prefix, q.rows, q.cols);
  return {{decls[0].name, decls[0].dtype, decls[0].shape, toBytes(q.cb)},
          {decls[1].name, decls[1].dtype, decls[1].shape, toBytes(q.scb)},
          {decls[2].name, decls[2].dtype, decls[2].shape, {0}}};
}

namespace {

/// The tensor `key` of `file`, checked for dtype and shape.
Expected<const SafetensorsTensor *>
requireTensor(const SafetensorsFile &file, const std::string &key, DType dtype,
              llvm::ArrayRef<int64_t> shape) {
  const SafetensorsTensor *tensor = file.lookup(key);
  if (!tensor)
    return makeError("'" + file.path() + "': tensor '" + key + "' is missing");
  if (tensor->dtype != dtype ||
      !llvm::equal(llvm::ArrayRef<int64_t>(tensor->shape), shape))
    return makeError(llvm::formatv(
        "'{0}': tensor '{1}' is {2} {3}, expected {4} {5}", file.path(), key,
        dtypeSafetensorsName(tensor->dtype), shapeString(tensor->shape),
        dtypeSafetensorsName(dtype), shapeString(shape)));
  return tensor;
}

/// Checks a stored code table against `expected` bit for bit; `zeroAt` names
/// an index where either sign of zero is accepted.
Error checkTable(const SafetensorsFile &file, const SafetensorsTensor &tensor,
                 const float *expected, size_t count, int zeroAt) {
  std::vector<float> stored = file.copyAs<float>(tensor);
  for (size_t i = 0; i < count; ++i) {
    bool same = floatBits(stored[i]) == floatBits(expected[i]) ||
                (static_cast<int>(i) == zeroAt && stored[i] == 0.0f);
    if (!same)
      return makeError(llvm::formatv(
          "'{0}': tensor '{1}' is not the known table: entry {2} is {3}, "
          "expected {4}",
          file.path(), tensor.name, i, pythonFloatRepr(stored[i]),
          pythonFloatRepr(expected[i])));
  }
  return Error::success();
}

} // namespace

Expected<Loaded4bit> bnb::quant::loadLinear4bit(const SafetensorsFile &file,
                                                StringRef prefix) {
  std::string weightKey = prefix.str() + "weight";
  const SafetensorsTensor *stateTensor = nullptr;
  QuantType qt = QuantType::NF4;
  for (QuantType candidate : {QuantType::NF4, QuantType::FP4}) {
    const SafetensorsTensor *t =
        file.lookup(prefix.str() + quantStateKey(candidate));
    if (!t)
      continue;
    if (stateTensor)
      return makeError("'" + file.path() + "': both '" + prefix +
                       "weight.quant_state.bitsandbytes__nf4' and '__fp4' "
                       "are present");
    stateTensor = t;
    qt = candidate;
  }
  if (!stateTensor)
    return makeError("'" + file.path() + "': tensor '" + prefix +
                     "weight.quant_state.bitsandbytes__nf4' (or __fp4) is "
                     "missing");
  if (stateTensor->dtype != DType::U8 || stateTensor->shape.size() != 1)
    return makeError("'" + file.path() + "': tensor '" + stateTensor->name +
                     "' is not a 1-D U8 tensor");
  llvm::ArrayRef<uint8_t> blob = file.bytes(*stateTensor);
  Expected<QuantStateInfo> info = parseQuantStateJson(
      StringRef(reinterpret_cast<const char *>(blob.data()), blob.size()));
  if (!info)
    return makeError("'" + file.path() + "': tensor '" + stateTensor->name +
                     "': " + llvm::toString(info.takeError()));
  if (info->quantType != qt)
    return makeError("'" + file.path() + "': tensor '" + stateTensor->name +
                     "' says quant_type '" + quantTypeName(info->quantType) +
                     "'");

  Loaded4bit loaded;
  loaded.state = *info;
  uint64_t n = product(info->shape);
  int64_t nblocks = static_cast<int64_t>(numBlocks(n, info->blocksize));

  const SafetensorsTensor *weight = file.lookup(weightKey);
  if (!weight)
    return makeError("'" + file.path() + "': tensor '" + weightKey +
                     "' is missing");
  if (!isValidQuantStorage(weight->dtype))
    return makeError("'" + file.path() + "': tensor '" + weightKey +
                     "' has dtype " + dtypeSafetensorsName(weight->dtype) +
                     ", which is not a quant storage type");
  loaded.quantStorage = weight->dtype;
  Expected<int64_t> rows = packedRows(n, weight->dtype, weightKey);
  if (!rows)
    return rows.takeError();
  if (Expected<const SafetensorsTensor *> t =
          requireTensor(file, weightKey, weight->dtype, {*rows, 1});
      !t)
    return t.takeError();
  llvm::ArrayRef<uint8_t> packed = file.bytes(*weight);
  loaded.packed.assign(packed.begin(), packed.end());

  Expected<const SafetensorsTensor *> quantMap =
      requireTensor(file, weightKey + ".quant_map", DType::F32, {16});
  if (!quantMap)
    return quantMap.takeError();
  if (Error err = checkTable(file, **quantMap, codeTable(qt), 16,
                             qt == QuantType::FP4 ? 8 : -1))
    return std::move(err);

  bool nested = file.lookup(weightKey + ".nested_absmax") != nullptr;
  if (nested != info->nestedOffset.has_value())
    return makeError("'" + file.path() + "': tensor '" + stateTensor->name +
                     (nested ? "' has no nested_offset but '" + weightKey +
                                   ".nested_absmax' exists"
                             : "' has a nested_offset but '" + weightKey +
                                   ".nested_absmax' is missing"));
  if (!nested) {
    Expected<const SafetensorsTensor *> absmax =
        requireTensor(file, weightKey + ".absmax", DType::F32, {nblocks});
    if (!absmax)
      return absmax.takeError();
    loaded.absmax = file.copyAs<float>(**absmax);
    return loaded;
  }
  Expected<const SafetensorsTensor *> codes =
      requireTensor(file, weightKey + ".absmax", DType::U8, {nblocks});
  if (!codes)
    return codes.takeError();
  Expected<const SafetensorsTensor *> nestedAbsmax = requireTensor(
      file, weightKey + ".nested_absmax", DType::F32,
      {static_cast<int64_t>(numBlocks(nblocks, kNestedBlocksize))});
  if (!nestedAbsmax)
    return nestedAbsmax.takeError();
  Expected<const SafetensorsTensor *> nestedMap =
      requireTensor(file, weightKey + ".nested_quant_map", DType::F32, {256});
  if (!nestedMap)
    return nestedMap.takeError();
  if (Error err = checkTable(file, **nestedMap, kDynamicMap, 256, -1))
    return std::move(err);
  NestedAbsmax stored;
  stored.codes = file.copyAs<uint8_t>(**codes);
  stored.nestedAbsmax = file.copyAs<float>(**nestedAbsmax);
  stored.offset = *info->nestedOffset;
  loaded.absmax.resize(static_cast<size_t>(nblocks));
  reconstructAbsmax(stored.codes.data(), stored.nestedAbsmax.data(),
                    stored.offset, static_cast<size_t>(nblocks),
                    loaded.absmax.data());
  loaded.nested = std::move(stored);
  return loaded;
}

Expected<QuantizedInt8> bnb::quant::loadLinear8bit(const SafetensorsFile &file,
                                                   StringRef prefix) {
  std::string weightKey = prefix.str() + "weight";
  const SafetensorsTensor *weight = file.lookup(weightKey);
  if (!weight)
    return makeError("'" + file.path() + "': tensor '" + weightKey +
                     "' is missing");
  if (weight->dtype != DType::I8 || weight->shape.size() != 2)
    return makeError("'" + file.path() + "': tensor '" + weightKey +
                     "' is not a 2-D I8 tensor");
  QuantizedInt8 q;
  q.rows = weight->shape[0];
  q.cols = weight->shape[1];
  Expected<const SafetensorsTensor *> scb =
      requireTensor(file, prefix.str() + "SCB", DType::F32, {q.rows});
  if (!scb)
    return scb.takeError();
  if (const SafetensorsTensor *format =
          file.lookup(prefix.str() + "weight_format")) {
    if (format->dtype != DType::U8 || format->numElements() != 1)
      return makeError("'" + file.path() + "': tensor '" + format->name +
                       "' is not a U8 scalar");
    uint8_t code = file.bytes(*format)[0];
    if (code != 0)
      return makeError(llvm::formatv(
          "'{0}': tensor '{1}' is {2} ({3}); only 0 (row) is supported",
          file.path(), format->name, code,
          code == 1   ? "col32"
          : code == 2 ? "col_turing"
          : code == 3 ? "col_ampere"
                      : "unknown"));
  }
  q.cb = file.copyAs<int8_t>(*weight);
  q.scb = file.copyAs<float>(**scb);
  return q;
}
