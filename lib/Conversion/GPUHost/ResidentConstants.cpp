//===- ResidentConstants.cpp - constants stay on the device ---------------===//
//
// The bnb-gpu-resident-constants pass: host code gets the device copy of
// each constant global it reads from libbnb_runtime, which uploads it once
// per loaded module, instead of uploading it at every call.
//
//===----------------------------------------------------------------------===//

#include "bnb/Conversion/Passes.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBGPURESIDENTCONSTANTS
#include "bnb/Conversion/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;

namespace {

constexpr StringLiteral kAcquireFn = "bnbrtResidentConstant";
constexpr StringLiteral kReleaseFn = "bnbrtReleaseResidentConstant";
constexpr StringLiteral kReleaseAllFn = "bnb_release_resident_constants";
/// The priority of destructors that need no particular order.
constexpr int32_t kDefaultPriority = 65535;

/// Declares `name` in `module` unless it exists.
LLVM::LLVMFuncOp declareFunction(ModuleOp module, StringRef name,
                                 LLVM::LLVMFunctionType type) {
  if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return fn;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  return LLVM::LLVMFuncOp::create(b, module.getLoc(), name, type);
}

/// Reads `global` at `b` and returns its descriptor, as `descriptorType`,
/// and its aligned pointer: the address of the host data.
std::pair<Value, Value> hostDescriptor(OpBuilder &b, Location loc,
                                       memref::GlobalOp global,
                                       Type descriptorType) {
  auto get = memref::GetGlobalOp::create(b, loc, global.getType(),
                                         global.getSymName());
  Value descriptor = UnrealizedConversionCastOp::create(
                         b, loc, descriptorType, get.getResult())
                         .getResult(0);
  Value pointer = LLVM::ExtractValueOp::create(b, loc, descriptor,
                                               ArrayRef<int64_t>{1});
  return {descriptor, pointer};
}

/// The constant globals host code reads, with their sizes in bytes.
using ConstantBytes = llvm::MapVector<memref::GlobalOp, int64_t>;

/// Checks that `get` reads a constant that can live on the device and
/// records it with its size.
LogicalResult recordConstant(memref::GetGlobalOp get,
                             SymbolTableCollection &symbols,
                             ConstantBytes &constants) {
  // The op's verifier guarantees a memref.global of the same type.
  auto global = symbols.lookupNearestSymbolFrom<memref::GlobalOp>(
      get, get.getNameAttr());
  if (!global.getConstant() || !global.getInitialValue() ||
      global.isUninitialized())
    return get.emitOpError()
           << "reads @" << get.getName()
           << " from host code, which is not a constant with an initial "
              "value: only constants can be resident on the device";
  MemRefType type = global.getType();
  if (!type.getLayout().isIdentity())
    return get.emitOpError() << "reads @" << get.getName()
                             << ", whose layout is not the identity: only "
                                "contiguous constants can be resident on "
                                "the device";
  int64_t elementBytes =
      DataLayout::closest(global).getTypeSize(type.getElementType());
  constants.try_emplace(global, type.getNumElements() * elementBytes);
  return success();
}

/// Replaces the host reads of constants in `func` by their device copies,
/// looked up once at entry.
void useResidentCopies(func::FuncOp func,
                       ArrayRef<memref::GetGlobalOp> gets,
                       SymbolTableCollection &symbols,
                       const ConstantBytes &constants,
                       const LLVMTypeConverter &converter,
                       LLVM::LLVMFuncOp acquire) {
  OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
  Type i64 = b.getI64Type();
  llvm::DenseMap<memref::GlobalOp, Value> device;
  for (memref::GetGlobalOp get : gets) {
    auto global = symbols.lookupNearestSymbolFrom<memref::GlobalOp>(
        get, get.getNameAttr());
    Value &copy = device[global];
    if (!copy) {
      Location loc = global.getLoc();
      MemRefType type = global.getType();
      Type descriptorType = converter.convertType(type);
      auto [descriptor, host] =
          hostDescriptor(b, loc, global, descriptorType);
      Value bytes = LLVM::ConstantOp::create(
          b, loc, i64, b.getI64IntegerAttr(constants.lookup(global)));
      Value pointer =
          LLVM::CallOp::create(b, loc, acquire, ValueRange{host, bytes})
              .getResult();
      // Same sizes, strides and offset; both pointers are the device copy's.
      descriptor =
          LLVM::InsertValueOp::create(b, loc, descriptor, pointer,
                                      ArrayRef<int64_t>{0});
      descriptor =
          LLVM::InsertValueOp::create(b, loc, descriptor, pointer,
                                      ArrayRef<int64_t>{1});
      copy = UnrealizedConversionCastOp::create(b, loc, type, descriptor)
                 .getResult(0);
    }
    get.getResult().replaceAllUsesWith(copy);
    get.erase();
  }
}

/// Adds a destructor to `module` that releases the device copies of
/// `constants` when the module is unloaded.
void releaseAtUnload(ModuleOp module, const ConstantBytes &constants,
                     const LLVMTypeConverter &converter,
                     LLVM::LLVMFuncOp release) {
  MLIRContext *ctx = module.getContext();
  Location loc = module.getLoc();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto dtor = LLVM::LLVMFuncOp::create(
      b, loc, kReleaseAllFn,
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {}),
      LLVM::Linkage::Internal);
  b.setInsertionPointToStart(dtor.addEntryBlock(b));
  for (memref::GlobalOp global : llvm::make_first_range(constants)) {
    Value host =
        hostDescriptor(b, loc, global, converter.convertType(global.getType()))
            .second;
    LLVM::CallOp::create(b, loc, release, ValueRange{host});
  }
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  b.setInsertionPointAfter(dtor);
  LLVM::GlobalDtorsOp::create(
      b, loc, b.getArrayAttr(FlatSymbolRefAttr::get(dtor)),
      b.getI32ArrayAttr({kDefaultPriority}), b.getArrayAttr(LLVM::ZeroAttr::get(ctx)));
}

struct BnbGPUResidentConstantsPass
    : public bnb::impl::BnbGPUResidentConstantsBase<
          BnbGPUResidentConstantsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection symbols;
    ConstantBytes constants;
    SmallVector<std::pair<func::FuncOp, SmallVector<memref::GetGlobalOp>>>
        reads;
    bool failed = false;
    for (auto func : module.getOps<func::FuncOp>()) {
      SmallVector<memref::GetGlobalOp> gets;
      func.walk([&](memref::GetGlobalOp get) {
        // An unused read would still upload: the runtime call stays.
        if (get.use_empty())
          return get.erase();
        if (mlir::failed(recordConstant(get, symbols, constants)))
          failed = true;
        gets.push_back(get);
      });
      if (!gets.empty())
        reads.emplace_back(func, std::move(gets));
    }
    if (failed)
      return signalPassFailure();
    if (constants.empty())
      return;

    MLIRContext *ctx = &getContext();
    LLVMTypeConverter converter(ctx);
    Type ptr = LLVM::LLVMPointerType::get(ctx);
    auto acquire = declareFunction(
        module, kAcquireFn,
        LLVM::LLVMFunctionType::get(ptr, {ptr, IntegerType::get(ctx, 64)}));
    auto release = declareFunction(
        module, kReleaseFn,
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptr}));
    for (auto &[func, gets] : reads)
      useResidentCopies(func, gets, symbols, constants, converter, acquire);
    releaseAtUnload(module, constants, converter, release);
  }
};

} // namespace
