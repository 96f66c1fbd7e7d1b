//===- MemoryReport.cpp - weight memory of a model graph ------------------===//
//
// The MemoryReport analysis (MemoryReport.h). The bnb-memory-report pass
// that prints it is MemoryReportPass.cpp.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/MemoryReport.h"
#include "bnb/Dialect/Bnb/Transforms/ConfigResolution.h"
#include "bnb/Dialect/Bnb/Transforms/LinearMatcher.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::bnb;

namespace {

/// Bytes of a statically shaped tensor type.
int64_t tensorBytes(Type type) {
  auto shaped = dyn_cast<RankedTensorType>(type);
  if (!shaped || !shaped.hasStaticShape())
    return 0;
  return shaped.getNumElements() *
         llvm::divideCeil(shaped.getElementTypeBitWidth(), 8);
}

/// The report counts bytes in int64_t. Only a hand-written graph can come
/// near that range (bnb-compile refuses such tensor types before any pass),
/// and it is refused rather than reported with wrapped-around numbers.
constexpr double kMaxReportBytes = 0x1p62;

/// Bytes of a statically shaped tensor type as a double: never overflows.
double approxTensorBytes(Type type) {
  auto shaped = dyn_cast<RankedTensorType>(type);
  if (!shaped || !shaped.hasStaticShape())
    return 0;
  double bytes = llvm::divideCeil(shaped.getElementTypeBitWidth(), 8);
  for (int64_t dim : shaped.getShape())
    bytes *= double(dim);
  return bytes;
}

/// The largest count the report derives from `op` (its 16-bit weight size,
/// which bounds every packed size, plus its operands), as a double.
double approxLayerBytes(Operation *op, int64_t outFeatures,
                        int64_t inFeatures) {
  double bytes = 2.0 * double(outFeatures) * double(inFeatures);
  for (Value operand : op->getOperands())
    bytes += approxTensorBytes(operand.getType());
  return bytes;
}


constexpr int64_t kQuantMapBytes = 16 * 4;
constexpr int64_t kNestedQuantMapBytes = 256 * 4;

LayerMemory measure(LinearInt8Op op) {
  LayerMemory m;
  m.module = op.getModule().str();
  m.kind = op.getHasFp16Weight() ? "int8 (fp16 weight)" : "int8";
  m.outFeatures = op.getOutFeatures();
  m.inFeatures = op.getInFeatures();
  m.bias = op.getBias() ? tensorBytes(op.getBias().getType()) : 0;
  if (op.getHasFp16Weight()) {
    m.weight = tensorBytes(op.getWeight().getType());
    return m;
  }
  m.projected = !op.isQuantized();
  m.weight = m.outFeatures * m.inFeatures;
  m.absmax = m.outFeatures * 4 + /*weight_format=*/1;
  return m;
}

LayerMemory measure(Linear4bitOp op, bool doubleQuant) {
  LayerMemory m;
  m.module = op.getModule().str();
  m.outFeatures = op.getOutFeatures();
  m.inFeatures = op.getInFeatures();
  m.bias = op.getBias() ? tensorBytes(op.getBias().getType()) : 0;
  m.projected = !op.isQuantized();
  bool nested = op.isQuantized() ? op.isNested() : doubleQuant;
  m.kind = stringifyQuantType(op.getQuantType()).str() + (nested ? "+dq" : "");
  int64_t n = m.outFeatures * m.inFeatures;
  int64_t blocks = llvm::divideCeil(n, op.getBlocksize());
  m.weight = (n + 1) / 2;
  m.absmax = blocks * (nested ? 1 : 4) + kQuantMapBytes;
  if (nested)
    m.nested = llvm::divideCeil(blocks, 256) * 4 + kNestedQuantMapBytes;
  return m;
}

} // namespace

MemoryReport::MemoryReport(Operation *moduleOp) {
  auto module = cast<ModuleOp>(moduleOp);
  bool doubleQuant = getModuleConfig(module).getBnb4bitUseDoubleQuant();
  SymbolTableCollection symbols;
  std::vector<LayerMemory> &layers = layerList;
  llvm::DenseSet<Value> counted;
  // A linear appears once per entry point (forward, prefill, decode) with
  // one set of weights: it is counted once, by module name.
  llvm::StringSet<> seenModules;
  auto addLayer = [&](LayerMemory m) {
    if (seenModules.insert(m.module).second)
      layers.push_back(std::move(m));
  };
  double approxTotal = 0;
  // True (after an error) when `op`'s sizes, or the running total, leave
  // the report's int64_t range.
  auto tooLarge = [&](Operation *op, double bytes) {
    approxTotal += bytes;
    if (bytes <= kMaxReportBytes && approxTotal <= kMaxReportBytes)
      return false;
    op->emitError() << "the memory report counts bytes in int64_t; this "
                       "graph's weights exceed 2^62 bytes";
    return true;
  };
  WalkResult walked = module.walk([&](Operation *op) {
    if (auto layer = dyn_cast<LinearInt8Op>(op)) {
      if (tooLarge(op, approxLayerBytes(op, layer.getOutFeatures(),
                                        layer.getInFeatures())))
        return WalkResult::interrupt();
      addLayer(measure(layer));
    } else if (auto layer = dyn_cast<Linear4bitOp>(op)) {
      if (tooLarge(op, approxLayerBytes(op, layer.getOutFeatures(),
                                        layer.getInFeatures())))
        return WalkResult::interrupt();
      addLayer(measure(layer, doubleQuant));
    } else if (auto matmul = dyn_cast<linalg::MatmulOp>(op)) {
      std::optional<LinearMatch> match = matchLinear(matmul, symbols);
      if (!match)
        return WalkResult::advance();
      if (tooLarge(op, approxLayerBytes(op, match->getOutFeatures(),
                                        match->getInFeatures())))
        return WalkResult::interrupt();
      LayerMemory m;
      m.module = match->moduleName;
      m.kind = "16-bit (skipped)";
      m.skipped = true;
      m.outFeatures = match->getOutFeatures();
      m.inFeatures = match->getInFeatures();
      m.weight = tensorBytes(match->weight.getType());
      m.bias = match->bias ? tensorBytes(match->bias.getType()) : 0;
      addLayer(m);
      counted.insert(match->weight);
      if (match->bias)
        counted.insert(match->bias);
      return WalkResult::advance();
    } else {
      return WalkResult::advance();
    }
    for (Value operand : op->getOperands().drop_front())
      counted.insert(operand);
    return WalkResult::advance();
  });
  if (walked.wasInterrupted()) {
    hasFailed = true;
    return;
  }

  // Every other weight: globals, externalized weight arguments, named
  // inline constants.
  llvm::DenseSet<StringRef> seenKeys;
  auto addRest = [&](StringRef key, Type type) {
    if (seenKeys.insert(key).second)
      rest += tensorBytes(type);
  };
  DenseSet<StringRef> layerKeys;
  module.walk([&](Operation *op) {
    for (Value operand : op->getOperands()) {
      if (!counted.contains(operand))
        continue;
      if (std::optional<WeightRef> ref = getWeightRef(operand, symbols))
        if (!ref->key.empty())
          layerKeys.insert(StringAttr::get(module.getContext(), ref->key));
      if (auto arg = dyn_cast<BlockArgument>(operand))
        if (auto func = dyn_cast<FunctionOpInterface>(
                arg.getOwner()->getParentOp()))
          if (auto key = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                           kWeightArgAttr))
            layerKeys.insert(key);
    }
  });
  for (auto global : module.getOps<ml_program::GlobalOp>())
    if (!layerKeys.contains(global.getSymName())) {
      if (tooLarge(global, approxTensorBytes(global.getType()))) {
        hasFailed = true;
        return;
      }
      addRest(global.getSymName(), global.getType());
    }
  WalkResult args = module.walk([&](FunctionOpInterface func) {
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (auto key = func.getArgAttrOfType<StringAttr>(i, kWeightArgAttr))
        if (!layerKeys.contains(key)) {
          if (tooLarge(func, approxTensorBytes(func.getArgumentTypes()[i])))
            return WalkResult::interrupt();
          addRest(key, func.getArgumentTypes()[i]);
        }
    return WalkResult::advance();
  });
  if (args.wasInterrupted()) {
    hasFailed = true;
    return;
  }

}

MemoryTotals MemoryReport::totals() const {
  MemoryTotals t;
  t.rest = rest;
  for (const LayerMemory &m : layerList) {
    (m.skipped ? t.skipped : t.packed) += m.weight;
    t.absmax += m.absmax;
    t.nested += m.nested;
    t.bias += m.bias;
    t.fp16 += m.outFeatures * m.inFeatures * 2 + m.bias;
  }
  t.fp16 += rest;
  return t;
}

void MemoryReport::printTable(llvm::raw_ostream &os) const {
  ArrayRef<LayerMemory> layers = layerList;
  os << llvm::formatv("{0,-48} {1,-18} {2,13} {3,12} {4,10} {5,8} {6,8} "
                      "{7,12}\n",
                      "module", "kind", "shape", "weight", "absmax",
                      "nested", "bias", "total");
  for (const LayerMemory &m : layers)
    os << llvm::formatv(
        "{0,-48} {1,-18} {2,13} {3,12} {4,10} {5,8} {6,8} {7,12}\n",
        m.module + (m.projected ? " *" : ""), m.kind,
        llvm::formatv("{0}x{1}", m.outFeatures, m.inFeatures).str(),
        m.weight, m.absmax, m.nested, m.bias, m.total());
  MemoryTotals t = totals();
  os << "\n";
  os << llvm::formatv("{0,-40} {1,14}\n", "quantized weights (packed)",
                      t.packed);
  os << llvm::formatv("{0,-40} {1,14}\n", "absmax / SCB / quant maps",
                      t.absmax);
  os << llvm::formatv("{0,-40} {1,14}\n", "nested state", t.nested);
  os << llvm::formatv("{0,-40} {1,14}\n", "skipped 16-bit layers",
                      t.skipped);
  os << llvm::formatv("{0,-40} {1,14}\n", "biases", t.bias);
  os << llvm::formatv("{0,-40} {1,14}\n", "other weights", t.rest);
  os << llvm::formatv("{0,-40} {1,14}\n",
                      "footprint (get_memory_footprint)", t.footprint());
  os << llvm::formatv("{0,-40} {1,14}\n", "total incl. quantization state",
                      t.total());
  os << llvm::formatv("{0,-40} {1,14}\n", "16-bit model", t.fp16);
  if (llvm::any_of(layers, [](const LayerMemory &m) { return m.projected; }))
    os << "* not quantized yet: sizes after bnb-quantize-weights\n";
}

llvm::json::Object MemoryReport::totalsJson() const {
  MemoryTotals t = totals();
  return llvm::json::Object{{"packed_weights", t.packed},
                            {"absmax", t.absmax},
                            {"nested_state", t.nested},
                            {"skipped_16bit", t.skipped},
                            {"biases", t.bias},
                            {"rest", t.rest},
                            {"footprint", t.footprint()},
                            {"total", t.total()},
                            {"fp16_model", t.fp16}};
}

llvm::json::Value MemoryReport::toJson() const {
  llvm::json::Array rows;
  for (const LayerMemory &m : layerList)
    rows.push_back(llvm::json::Object{
        {"module", m.module},
        {"kind", m.kind},
        {"shape", llvm::json::Array{m.outFeatures, m.inFeatures}},
        {"weight", m.weight},
        {"absmax", m.absmax},
        {"nested", m.nested},
        {"bias", m.bias},
        {"footprint", m.footprint()},
        {"total", m.total()},
        {"skipped", m.skipped},
        {"projected", m.projected}});
  return llvm::json::Object{{"layers", std::move(rows)},
                            {"totals", totalsJson()}};
}
