//===- QuantizeWeights.cpp - bnb-quantize-weights --------------------------===//
//
// Quantizes the float weights of bnb linear layers with the numerics library
// and writes the module's weights to a new safetensors file in the layout
// transformers + bitsandbytes save (Linear4bit: weight, weight.absmax,
// weight.quant_map, [weight.nested_absmax, weight.nested_quant_map],
// weight.quant_state.bitsandbytes__<type>; Linear8bitLt: weight, SCB,
// weight_format). Weights other layers use are copied unchanged, and so is
// the whole stored state dict of a layer that was already quantized (a
// pre-quantized checkpoint: no dequantize/re-quantize round trip). Tensors
// stream one at a time from the memory-mapped input; inline constant weights
// fold into packed constants. This file plans the layers and rewrites the
// IR; WeightWriter reads the input and writes the new file.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Transforms/ConfigResolution.h"
#include "bnb/Dialect/Bnb/Utils/DTypeMapping.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/Transforms/PendingWeightsWrite.h"
#include "bnb/Dialect/Bnb/Transforms/WeightWriter.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "bnb/Quant/BnbStateDict.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CheckedArithmetic.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBQUANTIZEWEIGHTS
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;
namespace q = ::bnb::quant;

namespace {

/// One layer whose float weight gets quantized: the quantization the
/// weight writer needs, and the IR it comes from.
struct LayerPlan : QuantizedLayer {
  Operation *op = nullptr;
  WeightRef weight;
  /// The first layer quantizing the same weight global the same way (the
  /// same linear seen by another entry point: forward, prefill, decode):
  /// this layer then loads that layer's state instead of making its own.
  LayerPlan *primary = nullptr;
  /// How many layers use this one's state.
  int64_t aliases = 0;

  /// Whether the weight's bytes are in the weights file, decided when the
  /// plan is made: a layer whose state is stored under its module name
  /// (`bnb.module` differs from the weight key) leaves its float global
  /// dead, and eraseDeadWeights erases it before the weights are written.
  bool external = false;

  bool isExternal() const { return external; }

  /// True when `other` quantizes its weight exactly as this plan does.
  bool sameQuantization(const LayerPlan &other) const {
    return prefix == other.prefix && is4bit == other.is4bit &&
           quantType == other.quantType && blocksize == other.blocksize &&
           nested == other.nested && storage == other.storage &&
           dtype == other.dtype && outFeatures == other.outFeatures &&
           inFeatures == other.inFeatures && conv1d == other.conv1d;
  }
};

/// The largest inline weight constant expanded into bytes: inline weights
/// are for small graphs and lit tests, a real model's weights live in the
/// bnb.weights file. A splat costs nothing in the IR, so without a bound a
/// hostile `dense<0.0> : tensor<1048576x1048576xf16>` would make this pass
/// allocate 2 TiB.
constexpr int64_t kMaxInlineWeightBytes = int64_t(1) << 30;

/// The raw little-endian bytes of an inline weight constant.
FailureOr<std::vector<uint8_t>> elementBytes(ElementsAttr attr, Location loc) {
  auto type = cast<ShapedType>(attr.getType());
  int64_t elemBytes = llvm::divideCeil(type.getElementTypeBitWidth(), 8);
  // Overflow-checked: bnb-opt runs this pass on graphs no tool checked.
  std::optional<int64_t> total = elemBytes;
  for (int64_t dim : type.getShape())
    if (total && (total = llvm::checkedMul(*total, dim)) &&
        *total > kMaxInlineWeightBytes)
      total.reset();
  if (!total)
    return emitError(loc) << "inline weight constant " << type
                          << " exceeds the " << kMaxInlineWeightBytes
                          << "-byte limit for inline weights; keep large "
                             "weights in the bnb.weights file";
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    ArrayRef<char> raw = dense.getRawData();
    std::vector<uint8_t> bytes(*total);
    if (dense.isSplat()) {
      for (int64_t i = 0; i < type.getNumElements(); ++i)
        std::memcpy(bytes.data() + i * elemBytes, raw.data(), elemBytes);
    } else {
      std::memcpy(bytes.data(), raw.data(), *total);
    }
    return bytes;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || static_cast<int64_t>(blob->getData().size()) != *total)
      return emitError(loc) << "inline weight resource has no data of "
                            << *total << " bytes";
    ArrayRef<char> data = blob->getData();
    return std::vector<uint8_t>(data.begin(), data.end());
  }
  return emitError(loc) << "unsupported inline weight attribute";
}

/// A ranked tensor type of `dtype` and `shape`.
RankedTensorType tensorType(MLIRContext *ctx, ::bnb::DType dtype,
                            ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, fromDType(ctx, dtype));
}

/// A dense constant holding `bytes` as `type`.
DenseElementsAttr denseFromBytes(RankedTensorType type,
                                 ArrayRef<uint8_t> bytes) {
  return DenseElementsAttr::getFromRawBuffer(
      type, ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()),
                           bytes.size()));
}

template <typename T>
ArrayRef<uint8_t> asBytes(const std::vector<T> &values) {
  return ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(values.data()),
                           values.size() * sizeof(T));
}

/// One run of bnb-quantize-weights over a module.
class WeightQuantizer {
public:
  WeightQuantizer(ModuleOp module, StringRef weightsPath, StringRef outputPath,
                  unsigned numThreads,
                  std::unique_ptr<PendingWeightsWrite> *pending)
      : module(module), weightsPath(weightsPath), outputPath(outputPath),
        pending(pending),
        writerStorage(std::make_unique<WeightWriter>(numThreads)),
        writer(*writerStorage) {}

  ModuleOp module;
  std::string weightsPath, outputPath;
  /// Where the writing goes when the caller writes the file (else null).
  std::unique_ptr<PendingWeightsWrite> *pending;
  SymbolTableCollection symbols;
  /// The input and output weights files, and the quantizers' thread pool
  /// (handed to `*pending` with the writing).
  std::unique_ptr<WeightWriter> writerStorage;
  WeightWriter &writer;
  /// Set when planning reported an error.
  bool planningFailed = false;

  LogicalResult run() {
    bool doubleQuant = getModuleConfig(module).getBnb4bitUseDoubleQuant();
    SmallVector<LayerPlan> plans;
    WalkResult walk = module.walk([&](Operation *op) {
      std::optional<LayerPlan> plan = makePlan(op, doubleQuant);
      if (!plan)
        return WalkResult::advance();
      if (plan->prefix.empty()) {
        op->emitOpError() << "has no module name";
        return WalkResult::interrupt();
      }
      plans.push_back(std::move(*plan));
      return WalkResult::advance();
    });
    if (walk.wasInterrupted() || planningFailed)
      return failure();
    // One weight global used by several entry points is quantized once.
    llvm::DenseMap<Operation *, LayerPlan *> byGlobal;
    for (LayerPlan &plan : plans) {
      if (!plan.isExternal())
        continue;
      auto [it, fresh] = byGlobal.try_emplace(plan.weight.global, &plan);
      if (fresh)
        continue;
      if (!it->second->sameQuantization(plan))
        return plan.op->emitOpError()
               << "quantizes '" << plan.weight.key
               << "' differently from another layer using that weight";
      plan.primary = it->second;
      ++it->second->aliases;
    }

    bool needsFile =
        llvm::any_of(module.getOps<ml_program::GlobalOp>(),
                     [](ml_program::GlobalOp g) {
                       return g.getValue() &&
                              isa<ml_program::ExternAttr>(*g.getValue());
                     });
    if (needsFile && failed(openInput()))
      return failure();
    // Every quantized weight must be in the file as the IR declares it.
    for (LayerPlan &plan : plans)
      if (plan.isExternal() &&
          failed(checkFileTensor(plan.weight.global,
                                 writer.lookup(plan.weight.key))))
        return failure();

    // The nested offset of a double-quantized layer goes into its state
    // blob, whose size the file header needs before any data is written.
    for (LayerPlan &plan : plans)
      if (plan.is4bit && plan.nested && plan.isExternal() && !plan.primary)
        plan.offset = writer.computeNestedOffset(plan);
    for (LayerPlan &plan : plans)
      if (plan.primary)
        plan.offset = plan.primary->offset;

    countSymbolUses();
    llvm::MapVector<StringRef, LayerPlan *> quantizedGlobals;
    for (LayerPlan &plan : plans)
      if (failed(plan.isExternal() ? rewriteExternal(plan, quantizedGlobals)
                                   : rewriteInline(plan)))
        return failure();
    eraseDeadWeights();
    if (!needsFile)
      return success();
    return writeWeights(plans, quantizedGlobals);
  }

  //===--------------------------------------------------------------------===//
  // Planning
  //===--------------------------------------------------------------------===//

  std::optional<LayerPlan> makePlan(Operation *op, bool doubleQuant) {
    LayerPlan plan;
    plan.op = op;
    Value weight;
    if (auto layer = dyn_cast<LinearInt8Op>(op)) {
      if (layer.isQuantized() || layer.getHasFp16Weight())
        return std::nullopt;
      weight = layer.getWeight();
      plan.prefix = layer.getModule().str();
      plan.outFeatures = layer.getOutFeatures();
      plan.inFeatures = layer.getInFeatures();
      plan.conv1d = layer.getConv1d();
    } else if (auto layer = dyn_cast<Linear4bitOp>(op)) {
      if (layer.isQuantized())
        return std::nullopt;
      weight = layer.getWeight();
      plan.is4bit = true;
      plan.prefix = layer.getModule().str();
      plan.outFeatures = layer.getOutFeatures();
      plan.inFeatures = layer.getInFeatures();
      plan.conv1d = layer.getConv1d();
      plan.quantType = layer.getQuantType() == QuantType::nf4
                           ? q::QuantType::NF4
                           : q::QuantType::FP4;
      plan.blocksize = layer.getBlocksize();
      plan.nested = doubleQuant;
      if (std::optional<Type> storage = layer.getQuantStorage())
        plan.storage = *toDType(*storage);
    } else {
      return std::nullopt;
    }
    std::optional<WeightRef> ref = getWeightRef(weight, symbols);
    if (!ref) {
      op->emitOpError() << "weight is not a weight global or constant";
      planningFailed = true;
      return std::nullopt;
    }
    if (ref->argument) {
      op->emitOpError() << "weight '" << ref->key
                        << "' is already an entry-point argument; run "
                           "bnb-quantize-weights before "
                           "bnb-externalize-weights";
      planningFailed = true;
      return std::nullopt;
    }
    plan.weight = *ref;
    plan.external = plan.weight.isExternal();
    plan.weightKey = ref->key;
    plan.dtype = *toDType(cast<ShapedType>(weight.getType()).getElementType());
    ArrayRef<int64_t> shape =
        cast<ShapedType>(ref->producer->getResult(0).getType()).getShape();
    plan.weightShape.assign(shape.begin(), shape.end());
    if (!plan.prefix.empty())
      plan.prefix += ".";
    return plan;
  }

  LogicalResult openInput() {
    std::string inputPath = weightsPath;
    if (inputPath.empty()) {
      auto attr = module->getAttrOfType<StringAttr>(kWeightsFileAttr);
      if (!attr)
        return module.emitError()
               << "the module has external weights but no '"
               << kWeightsFileAttr << "' attribute and no weights= option";
      inputPath = attr.str();
    }
    if (llvm::Error error = writer.openInput(inputPath))
      return module.emitError() << llvm::toString(std::move(error));
    return success();
  }

  /// The float weight of an inline layer in [N, K] order.
  FailureOr<WeightBytes> readInlineWeight(LayerPlan &plan) {
    WeightBytes result;
    auto type = cast<RankedTensorType>(plan.weight.producer->getResult(0).getType());
    FailureOr<std::vector<uint8_t>> bytes =
        elementBytes(plan.weight.getInlineValue(), plan.op->getLoc());
    if (failed(bytes))
      return failure();
    result.storage = std::move(*bytes);
    result.view = result.storage;
    if (plan.conv1d) {
      result.storage = transposeBytes(result.view, type.getDimSize(0),
                                      type.getDimSize(1),
                                      ::bnb::dtypeSize(plan.dtype));
      result.view = result.storage;
    }
    return result;
  }

  /// Checks that the file holds `global`'s tensor with its dtype and shape.
  LogicalResult checkFileTensor(ml_program::GlobalOp global,
                                const ::bnb::SafetensorsTensor *tensor) {
    if (!tensor)
      return global.emitOpError()
             << "weights file '" << writer.getInputPath() << "' has no tensor '"
             << global.getSymName() << "'";
    auto type = cast<RankedTensorType>(global.getType());
    std::optional<::bnb::DType> dtype = toDType(type.getElementType());
    if (!dtype || *dtype != tensor->dtype ||
        ArrayRef<int64_t>(tensor->shape) != type.getShape())
      return global.emitOpError()
             << "tensor '" << global.getSymName() << "' in '"
             << writer.getInputPath() << "' is "
             << ::bnb::dtypeSafetensorsName(tensor->dtype) << " ["
             << llvm::make_range(tensor->shape.begin(), tensor->shape.end())
             << "] but the global is " << type;
    return success();
  }

  //===--------------------------------------------------------------------===//
  // IR rewriting
  //===--------------------------------------------------------------------===//

  /// Returns an extern global `key` of `type`: the layer's own float weight
  /// global, retyped, or a new one.
  FailureOr<ml_program::GlobalOp> quantizedGlobal(LayerPlan &plan,
                                                  StringRef key,
                                                  RankedTensorType type) {
    MLIRContext *ctx = module.getContext();
    auto existing = symbols.lookupNearestSymbolFrom<ml_program::GlobalOp>(
        module, StringAttr::get(ctx, key));
    auto extern_ = ml_program::ExternAttr::get(ctx, type);
    if (existing) {
      bool ownWeight = existing == plan.weight.global &&
                       plan.weight.producer->getResult(0).hasOneUse();
      std::optional<int64_t> uses = countUses(existing);
      // The loads of this layer and of the layers sharing its state.
      if (!ownWeight || !uses || *uses != 1 + plan.aliases)
        return plan.op->emitOpError()
               << "cannot store the quantized '" << key
               << "': the module already uses a tensor of that name";
      existing.setType(type);
      existing.setValueAttr(extern_);
      return existing;
    }
    OpBuilder b(ctx);
    b.setInsertionPointAfter(plan.weight.global);
    auto global = ml_program::GlobalOp::create(
        b, plan.weight.global.getLoc(), StringAttr::get(ctx, key),
        TypeAttr::get(type), UnitAttr(), extern_, b.getStringAttr("private"));
    symbols.getSymbolTable(module).insert(global);
    return global;
  }

  LogicalResult
  rewriteExternal(LayerPlan &plan,
                  llvm::MapVector<StringRef, LayerPlan *> &quantizedGlobals) {
    OpBuilder b(plan.op);
    Location loc = plan.op->getLoc();
    SmallVector<std::pair<std::string, RankedTensorType>> irTensors =
        irStateTypes(plan);
    SmallVector<Value> loads;
    if (plan.primary) {
      // The primary layer (rewritten first, in walk order) made the state.
      for (auto &[key, type] : irTensors)
        loads.push_back(createLoad(b, loc, type, key));
      replaceLayer(plan, loads);
      return success();
    }
    for (auto &[key, type] : irTensors) {
      FailureOr<ml_program::GlobalOp> global = quantizedGlobal(plan, key, type);
      if (failed(global))
        return failure();
      quantizedGlobals[global->getSymName()] = &plan;
      loads.push_back(createLoad(b, loc, type, key));
    }
    replaceLayer(plan, loads);
    return success();
  }

  LogicalResult rewriteInline(LayerPlan &plan) {
    FailureOr<WeightBytes> bytes = readInlineWeight(plan);
    if (failed(bytes))
      return failure();
    OpBuilder b(plan.op);
    Location loc = plan.op->getLoc();
    SmallVector<std::pair<std::string, RankedTensorType>> irTensors =
        irStateTypes(plan);
    SmallVector<ArrayRef<uint8_t>> data;
    q::Quantized4bit q4;
    q::QuantizedInt8 q8;
    if (plan.is4bit) {
      q4 = q::quantizeLinear4bit(bytes->view.data(), plan.dtype,
                                 {plan.outFeatures, plan.inFeatures},
                                 plan.quantType, plan.blocksize, plan.nested,
                                 plan.storage, &writer.getPool());
      plan.offset = q4.nested ? std::optional<float>(q4.nested->offset)
                              : std::nullopt;
      data.push_back(q4.packed);
      if (q4.nested) {
        data.push_back(q4.nested->codes);
        data.push_back(asBytes(q4.nested->nestedAbsmax));
      } else {
        data.push_back(asBytes(q4.absmax));
      }
    } else {
      q8 = q::quantizeLinear8bit(bytes->view.data(), plan.dtype,
                                 plan.outFeatures, plan.inFeatures,
                                 &writer.getPool());
      data.push_back(asBytes(q8.cb));
      data.push_back(asBytes(q8.scb));
    }
    SmallVector<Value> constants;
    for (auto [entry, bytesOf] : llvm::zip(irTensors, data)) {
      auto &[key, type] = entry;
      auto constant = arith::ConstantOp::create(b, loc, type,
                                                denseFromBytes(type, bytesOf));
      constant->setAttr(kWeightNameAttr, b.getStringAttr(key));
      constants.push_back(constant);
    }
    replaceLayer(plan, constants);
    return success();
  }

  /// The quantized tensors the IR references, with their IR types: the
  /// packed or int8 weight, then absmax / SCB, then the nested absmax.
  SmallVector<std::pair<std::string, RankedTensorType>>
  irStateTypes(LayerPlan &plan) {
    MLIRContext *ctx = module.getContext();
    SmallVector<std::pair<std::string, RankedTensorType>> out;
    int64_t n = plan.outFeatures * plan.inFeatures;
    if (!plan.is4bit) {
      out.push_back({plan.prefix + "weight",
                     tensorType(ctx, ::bnb::DType::I8,
                                {plan.outFeatures, plan.inFeatures})});
      out.push_back({plan.prefix + "SCB",
                     tensorType(ctx, ::bnb::DType::F32, {plan.outFeatures})});
      return out;
    }
    int64_t blocks = q::numBlocks(n, plan.blocksize);
    // The IR views packed codes as bytes whatever quant_storage serializes
    // them as.
    out.push_back({plan.prefix + "weight",
                   tensorType(ctx, ::bnb::DType::U8, {(n + 1) / 2, 1})});
    out.push_back({plan.prefix + "weight.absmax",
                   tensorType(ctx, plan.nested ? ::bnb::DType::U8 : ::bnb::DType::F32,
                              {blocks})});
    if (plan.nested)
      out.push_back({plan.prefix + "weight.nested_absmax",
                     tensorType(ctx, ::bnb::DType::F32,
                                {static_cast<int64_t>(
                                    q::numBlocks(blocks, 256))})});
    return out;
  }

  void replaceLayer(LayerPlan &plan, ArrayRef<Value> state) {
    OpBuilder b(plan.op);
    Operation *newOp;
    if (auto layer = dyn_cast<LinearInt8Op>(plan.op)) {
      newOp = LinearInt8Op::create(
          b, layer.getLoc(), layer.getType(), layer.getInput(), state[0],
          state[1], layer.getBias(), layer.getModuleAttr(),
          layer.getThresholdAttr(), UnitAttr(), UnitAttr());
    } else {
      auto layer4 = cast<Linear4bitOp>(plan.op);
      FloatAttr offset =
          plan.offset ? b.getF32FloatAttr(*plan.offset) : FloatAttr();
      newOp = Linear4bitOp::create(
          b, layer4.getLoc(), layer4.getType(), layer4.getInput(), state[0],
          state[1], plan.nested ? state[2] : Value(), layer4.getBias(),
          layer4.getModuleAttr(), layer4.getQuantTypeAttr(),
          layer4.getBlocksizeAttr(), layer4.getComputeDtypeAttr(),
          layer4.getShapeAttr(), layer4.getQuantStorageAttr(), offset,
          UnitAttr());
    }
    plan.op->getResult(0).replaceAllUsesWith(newOp->getResult(0));
    Operation *producer = plan.weight.producer;
    adjustSymbolUses(newOp, +1);
    adjustSymbolUses(plan.op, -1);
    plan.op->erase();
    if (producer->use_empty()) {
      adjustSymbolUses(producer, -1);
      producer->erase();
    }
    plan.op = newOp;
  }

  //===--------------------------------------------------------------------===//
  // Symbol use counts
  //===--------------------------------------------------------------------===//

  /// Uses of every symbol of the module by name, counted in one walk before
  /// the rewrite and kept up to date by it (createLoad, replaceLayer): asking
  /// SymbolTable for one symbol's uses walks the whole module, and doing that
  /// per layer took seconds on a 7B graph. Unset when the module has nested
  /// symbol tables (where names can be shadowed) or ops of unknown symbol
  /// semantics; the queries then walk as before.
  std::optional<llvm::DenseMap<StringAttr, int64_t>> symbolUses;

  void countSymbolUses() {
    bool nested = false;
    module.walk([&](Operation *op) {
      if (op != module && op->hasTrait<OpTrait::SymbolTable>())
        nested = true;
    });
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(&module.getBodyRegion());
    if (nested || !uses)
      return;
    symbolUses.emplace();
    for (const SymbolTable::SymbolUse &use : *uses)
      ++(*symbolUses)[use.getSymbolRef().getRootReference()];
  }

  /// The number of uses of `global` in the module.
  std::optional<int64_t> countUses(ml_program::GlobalOp global) {
    if (symbolUses)
      return symbolUses->lookup(global.getSymNameAttr());
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(global, module);
    if (!uses)
      return std::nullopt;
    return int64_t(llvm::range_size(*uses));
  }

  /// Adds `delta` uses for each symbol reference in `op`'s attributes (the
  /// ops created and erased here have no regions).
  void adjustSymbolUses(Operation *op, int64_t delta) {
    if (!symbolUses)
      return;
    op->getAttrDictionary().walk([&](SymbolRefAttr ref) {
      (*symbolUses)[ref.getRootReference()] += delta;
    });
  }

  /// A constant load of the global `key`.
  Value createLoad(OpBuilder &b, Location loc, RankedTensorType type,
                   StringRef key) {
    auto load = ml_program::GlobalLoadConstOp::create(
        b, loc, type, FlatSymbolRefAttr::get(b.getContext(), key));
    adjustSymbolUses(load, +1);
    return load;
  }

  void eraseDeadWeights() {
    for (auto global : llvm::make_early_inc_range(
             module.getOps<ml_program::GlobalOp>()))
      if (symbolUses ? symbolUses->lookup(global.getSymNameAttr()) == 0
                     : SymbolTable::symbolKnownUseEmpty(global, module))
        global.erase();
  }

  //===--------------------------------------------------------------------===//
  // Writing the weights file
  //===--------------------------------------------------------------------===//

  /// Emits `error` at the module, or at its layer for a LayerWriteError.
  LogicalResult reportWriteError(llvm::Error error,
                                 ArrayRef<LayerPlan *> layers) {
    llvm::Error rest = llvm::handleErrors(
        std::move(error), [&](const LayerWriteError &layerError) {
          layers[layerError.getLayer()]->op->emitOpError()
              << layerError.getMessage();
        });
    if (rest)
      module.emitError() << llvm::toString(std::move(rest));
    return failure();
  }

  LogicalResult
  writeWeights(MutableArrayRef<LayerPlan> plans,
               llvm::MapVector<StringRef, LayerPlan *> &quantizedGlobals) {
    // Declarations: every layer's state dict, then the copied tensors.
    SmallVector<LayerPlan *> layers;
    std::vector<QuantizedLayer> quantized;
    for (LayerPlan &plan : plans) {
      if (!plan.isExternal() || plan.primary)
        continue;
      layers.push_back(&plan);
      quantized.push_back(plan);
    }
    if (llvm::Error error =
            writer.declareLayers(outputPath, std::move(quantized)))
      return reportWriteError(std::move(error), layers);
    llvm::StringMap<::bnb::DType> packedStorage = prequantizedPackedStorage();
    for (auto global : module.getOps<ml_program::GlobalOp>()) {
      if (!global.getValue() || !isa<ml_program::ExternAttr>(*global.getValue()) ||
          quantizedGlobals.contains(global.getSymName()))
        continue;
      const ::bnb::SafetensorsTensor *tensor =
          writer.lookup(global.getSymName());
      auto storage = packedStorage.find(global.getSymName());
      if (failed(storage != packedStorage.end()
                     ? checkPackedTensor(global, tensor, storage->second)
                     : checkFileTensor(global, tensor)))
        return failure();
      if (!writer.declareCopy(global.getSymName()))
        return global.emitOpError()
               << "tensor '" << global.getSymName()
               << "' clashes with a quantized layer's state";
    }
    // Layers that came quantized keep the rest of their state dict (quant
    // maps, quant_state blob, weight_format) as the checkpoint stored it.
    for (const std::string &key : prequantizedCompanions())
      writer.declareCompanion(key);

    if (pending) {
      std::vector<PendingWeightsWrite::LayerSite> sites;
      for (LayerPlan *plan : layers)
        sites.push_back({plan->op->getLoc(), plan->op->getName()});
      module->setAttr(kWeightsFileAttr,
                      StringAttr::get(module.getContext(),
                                      writer.getOutputPath()));
      *pending = std::make_unique<PendingWeightsWrite>(
          std::move(writerStorage), std::move(sites), module.getLoc());
      return success();
    }
    if (llvm::Error error = writer.write())
      return reportWriteError(std::move(error), layers);
    module->setAttr(kWeightsFileAttr, StringAttr::get(module.getContext(),
                                                      writer.getOutputPath()));
    return success();
  }

  /// The packed weights of layers quantized before this pass ran whose
  /// bytes are stored as another quant_storage dtype than uint8 (the IR
  /// views them as ui8), by global name.
  llvm::StringMap<::bnb::DType> prequantizedPackedStorage() {
    llvm::StringMap<::bnb::DType> out;
    module.walk([&](Linear4bitOp layer) {
      std::optional<Type> storage = layer.getQuantStorage();
      if (!layer.isQuantized() || !storage)
        return;
      std::optional<WeightRef> ref = getWeightRef(layer.getWeight(), symbols);
      if (ref && ref->global && ref->isExternal())
        out[ref->global.getSymName()] = *toDType(*storage);
    });
    return out;
  }

  /// Checks that the file holds the packed weight `global` (ui8 in the IR)
  /// serialized as `storage`: the same bytes, bitsandbytes' [n, 1] shape.
  LogicalResult checkPackedTensor(ml_program::GlobalOp global,
                                  const ::bnb::SafetensorsTensor *tensor,
                                  ::bnb::DType storage) {
    if (!tensor)
      return checkFileTensor(global, tensor);
    auto type = cast<RankedTensorType>(global.getType());
    if (tensor->dtype != storage || tensor->shape.size() != 2 ||
        tensor->shape[1] != 1 ||
        int64_t(tensor->numBytes()) != type.getNumElements())
      return global.emitOpError()
             << "packed weight '" << global.getSymName() << "' in '"
             << writer.getInputPath() << "' is "
             << ::bnb::dtypeSafetensorsName(tensor->dtype) << " ["
             << llvm::make_range(tensor->shape.begin(), tensor->shape.end())
             << "] but the layer's quant_storage "
             << ::bnb::dtypeSafetensorsName(storage) << " needs "
             << type.getNumElements() << " bytes as ["
             << type.getNumElements() / int64_t(::bnb::dtypeSize(storage))
             << ", 1]";
    return success();
  }

  /// The names of the input's state-dict tensors that no layer op takes but
  /// that may belong to a layer quantized before this pass ran (a
  /// pre-quantized checkpoint): `weight.quant_map`, `weight.nested_quant_map`,
  /// `weight.quant_state.bitsandbytes__*` and `weight_format`.
  std::vector<std::string> prequantizedCompanions() {
    std::vector<std::string> keys;
    module.walk([&](Operation *op) {
      Value weight;
      if (auto layer = dyn_cast<LinearInt8Op>(op); layer && layer.isQuantized())
        weight = layer.getWeight();
      else if (auto layer = dyn_cast<Linear4bitOp>(op);
               layer && layer.isQuantized())
        weight = layer.getWeight();
      if (!weight)
        return;
      std::optional<WeightRef> ref = getWeightRef(weight, symbols);
      if (!ref || !ref->global || !ref->isExternal())
        return;
      if (isa<LinearInt8Op>(op)) {
        keys.push_back(moduleNameForKey(ref->key) + ".weight_format");
      } else {
        for (StringRef suffix : {".quant_map", ".nested_quant_map",
                                 ".quant_state.bitsandbytes__nf4",
                                 ".quant_state.bitsandbytes__fp4"})
          keys.push_back(ref->key + suffix.str());
      }
    });
    return keys;
  }
};

struct BnbQuantizeWeightsPass
    : public mlir::bnb::impl::BnbQuantizeWeightsBase<BnbQuantizeWeightsPass> {
  using Base::Base;

  BnbQuantizeWeightsPass(const BnbQuantizeWeightsOptions &options,
                         std::unique_ptr<PendingWeightsWrite> *pending)
      : Base(options), pending(pending) {}

  void runOnOperation() override {
    WeightQuantizer quantizer(getOperation(), weightsPath, outputPath,
                              numThreads, pending);
    if (failed(quantizer.run()))
      signalPassFailure();
  }

  /// Where the writing goes when the caller writes the file (else null).
  std::unique_ptr<PendingWeightsWrite> *pending = nullptr;
};
} // namespace

std::unique_ptr<Pass> mlir::bnb::createBnbQuantizeWeights(
    const BnbQuantizeWeightsOptions &options,
    std::unique_ptr<PendingWeightsWrite> *pending) {
  return std::make_unique<BnbQuantizeWeightsPass>(options, pending);
}

//===----------------------------------------------------------------------===//
// PendingWeightsWrite
//===----------------------------------------------------------------------===//

PendingWeightsWrite::PendingWeightsWrite(std::unique_ptr<WeightWriter> writer,
                                         std::vector<LayerSite> layers,
                                         Location module)
    : writer(std::move(writer)), layers(std::move(layers)), module(module) {}

PendingWeightsWrite::~PendingWeightsWrite() = default;

llvm::Error PendingWeightsWrite::write() { return writer->write(); }

void PendingWeightsWrite::cancel() { writer->cancel(); }

llvm::StringRef PendingWeightsWrite::getOutputPath() const {
  return writer->getOutputPath();
}

void PendingWeightsWrite::emit(llvm::Error error) const {
  llvm::Error rest = llvm::handleErrors(
      std::move(error), [&](const LayerWriteError &layerError) {
        const LayerSite &site = layers[layerError.getLayer()];
        // The text emitOpError gives.
        mlir::emitError(site.loc)
            << "'" << site.name.getStringRef() << "' op "
            << layerError.getMessage();
      });
  if (rest)
    mlir::emitError(module) << llvm::toString(std::move(rest));
}
