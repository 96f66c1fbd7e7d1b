//===- EntrySignatures.cpp - entry points of a prepared module -------------===//

#include "EntrySignatures.h"

#include "bnb/Dialect/Bnb/Utils/DTypeMapping.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "bnb/Target/Artifact.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace {
llvm::Expected<::bnb::TensorSpec> specOf(Type type, std::string name,
                                         func::FuncOp func) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return llvm::createStringError(
        "entry point '" + func.getSymName().str() + "': '" + name +
        "' must be a statically shaped tensor");
  std::optional<::bnb::DType> dtype =
      mlir::bnb::toDType(tensor.getElementType());
  if (!dtype)
    return llvm::createStringError("entry point '" + func.getSymName().str() +
                                   "': '" + name +
                                   "' has an element type safetensors cannot "
                                   "hold");
  // bnb-run sizes its buffers from the signature: their bytes must fit.
  if (!::bnb::checkedNumBytes(*dtype, tensor.getShape()))
    return llvm::createStringError(
        "entry point '" + func.getSymName().str() + "': '" + name + "' (" +
        llvm::formatv("{0}", Type(tensor)).str() +
        ") has more bytes than int64_t holds");
  ::bnb::TensorSpec spec;
  spec.name = std::move(name);
  spec.dtype = *dtype;
  spec.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
  return spec;
}
} // namespace

namespace bnb {
llvm::Expected<std::vector<EntryPoint>> collectEntryPoints(ModuleOp module) {
  std::vector<::bnb::EntryPoint> entries;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.isPublic() || func.isExternal())
      continue;
    ::bnb::EntryPoint entry;
    entry.name = func.getSymName().str();
    entry.symbol = ::bnb::entrySymbol(entry.name);
    for (auto [i, type] : llvm::enumerate(func.getArgumentTypes())) {
      auto key = func.getArgAttrOfType<StringAttr>(i, mlir::bnb::kWeightArgAttr);
      auto name = func.getArgAttrOfType<StringAttr>(i, mlir::bnb::kWeightNameAttr);
      std::string label = key    ? key.str()
                          : name ? name.str()
                                 : "input" + std::to_string(i);
      llvm::Expected<::bnb::TensorSpec> spec = specOf(type, label, func);
      if (!spec)
        return spec.takeError();
      spec->kvCache = func.getArgAttr(i, mlir::bnb::kKvCacheAttr) != nullptr;
      if (auto vocab =
              func.getArgAttrOfType<IntegerAttr>(i, mlir::bnb::kVocabSizeAttr)) {
        if (key || vocab.getInt() <= 0 ||
            (spec->dtype != ::bnb::DType::I64 &&
             spec->dtype != ::bnb::DType::I32))
          return llvm::createStringError(
              "entry point '" + entry.name + "': " +
              mlir::bnb::kVocabSizeAttr.str() + " of '" + label +
              "' must be a positive integer on an i64 or i32 input");
        spec->vocabSize = vocab.getInt();
      }
      (key ? entry.weights : entry.inputs).push_back(std::move(*spec));
    }
    for (auto [i, type] : llvm::enumerate(func.getResultTypes())) {
      // A returned cache is its argument, updated in place
      // (bnb-drop-inout-results): no output.
      if (func.getResultAttr(i, mlir::bnb::kKvCacheAttr))
        continue;
      auto name =
          func.getResultAttrOfType<StringAttr>(i, mlir::bnb::kWeightNameAttr);
      llvm::Expected<::bnb::TensorSpec> spec = specOf(
          type, name ? name.str() : "output" + std::to_string(i), func);
      if (!spec)
        return spec.takeError();
      entry.outputs.push_back(std::move(*spec));
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty())
    return llvm::createStringError("the module has no public function to "
                                   "compile as an entry point");
  return entries;
}
} // namespace bnb
