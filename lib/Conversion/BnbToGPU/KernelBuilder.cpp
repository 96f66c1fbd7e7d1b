//===- KernelBuilder.cpp - building bnb GPU kernels -----------------------===//
//
// Kernel module and kernel creation, constant tables and the KernelBuilder
// shorthands.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::bnb::gpu;

//===----------------------------------------------------------------------===//
// Kernel module and kernels
//===----------------------------------------------------------------------===//

::mlir::gpu::GPUModuleOp
mlir::bnb::gpu::getOrCreateKernelModule(ModuleOp module) {
  if (auto existing =
          module.lookupSymbol<::mlir::gpu::GPUModuleOp>(kKernelModuleName))
    return existing;
  module->setAttr(::mlir::gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  return ::mlir::gpu::GPUModuleOp::create(b, module.getLoc(),
                                          kKernelModuleName);
}

MemRefType mlir::bnb::gpu::kernelBufferType(Type elementType) {
  return MemRefType::get({ShapedType::kDynamic}, elementType);
}

MemRefType mlir::bnb::gpu::sharedBufferType(ArrayRef<int64_t> shape,
                                            Type elementType) {
  auto space = ::mlir::gpu::AddressSpaceAttr::get(
      elementType.getContext(), ::mlir::gpu::AddressSpace::Workgroup);
  return MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(),
                         space);
}

::mlir::gpu::GPUFuncOp mlir::bnb::gpu::getOrBuildKernel(
    ModuleOp module, StringRef name, TypeRange argTypes, int64_t blockSize,
    KernelBodyFn body, TypeRange workgroupBuffers) {
  ::mlir::gpu::GPUModuleOp kernels = getOrCreateKernelModule(module);
  if (auto existing = kernels.lookupSymbol<::mlir::gpu::GPUFuncOp>(name))
    return existing;
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(kernels.getBody());
  Location loc = kernels.getLoc();
  auto func = ::mlir::gpu::GPUFuncOp::create(
      b, loc, name, FunctionType::get(ctx, argTypes, {}), workgroupBuffers);
  func->setAttr(::mlir::gpu::GPUDialect::getKernelFuncAttrName(),
                b.getUnitAttr());
  func.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(
      ctx, {static_cast<int32_t>(blockSize), 1, 1}));
  Block &entry = func.getBody().front();
  KernelBuilder kb(loc, ctx);
  kb.setInsertionPointToStart(&entry);
  body(kb, entry.getArguments());
  ::mlir::gpu::ReturnOp::create(kb);
  return func;
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

Value KernelBuilder::idx(int64_t value) {
  return arith::ConstantIndexOp::create(*this, value);
}

Value KernelBuilder::i32(int64_t value) {
  return arith::ConstantIntOp::create(*this, getI32Type(), value);
}

Value KernelBuilder::intConst(Type type, int64_t value) {
  if (type.isIndex())
    return idx(value);
  return arith::ConstantIntOp::create(*this, type, value);
}

Value KernelBuilder::f32(float value) {
  return arith::ConstantFloatOp::create(*this, getF32Type(),
                                        APFloat(value));
}

Value KernelBuilder::f32Bits(uint32_t bits) {
  return arith::ConstantFloatOp::create(
      *this, getF32Type(), APFloat(APFloat::IEEEsingle(), APInt(32, bits)));
}

Value KernelBuilder::floatConst(Type type, double value) {
  auto ft = cast<FloatType>(type);
  APFloat v(value);
  bool lost;
  v.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
  return arith::ConstantFloatOp::create(*this, ft, v);
}

//===----------------------------------------------------------------------===//
// Integer arithmetic
//===----------------------------------------------------------------------===//

Value KernelBuilder::add(Value a, Value b) {
  return arith::AddIOp::create(*this, a, b);
}
Value KernelBuilder::add(Value a, int64_t b) {
  return b == 0 ? a : add(a, intConst(a.getType(), b));
}
Value KernelBuilder::sub(Value a, Value b) {
  return arith::SubIOp::create(*this, a, b);
}
Value KernelBuilder::mul(Value a, Value b) {
  return arith::MulIOp::create(*this, a, b);
}
Value KernelBuilder::mul(Value a, int64_t b) {
  return b == 1 ? a : mul(a, intConst(a.getType(), b));
}
Value KernelBuilder::divu(Value a, Value b) {
  return arith::DivUIOp::create(*this, a, b);
}
Value KernelBuilder::divu(Value a, int64_t b) {
  if (b > 0 && llvm::isPowerOf2_64(b))
    return shru(a, llvm::Log2_64(b));
  return divu(a, intConst(a.getType(), b));
}
Value KernelBuilder::remu(Value a, int64_t b) {
  if (b > 0 && llvm::isPowerOf2_64(b))
    return andi(a, b - 1);
  return arith::RemUIOp::create(*this, a, intConst(a.getType(), b));
}
Value KernelBuilder::minu(Value a, Value b) {
  return arith::MinUIOp::create(*this, a, b);
}
Value KernelBuilder::shl(Value a, int64_t bits) {
  return bits == 0 ? a
                   : arith::ShLIOp::create(*this, a,
                                           intConst(a.getType(), bits));
}
Value KernelBuilder::shru(Value a, int64_t bits) {
  return bits == 0 ? a : shru(a, intConst(a.getType(), bits));
}
Value KernelBuilder::shru(Value a, Value bits) {
  return arith::ShRUIOp::create(*this, a, bits);
}
Value KernelBuilder::andi(Value a, int64_t mask) {
  return andi(a, intConst(a.getType(), mask));
}
Value KernelBuilder::andi(Value a, Value b) {
  return arith::AndIOp::create(*this, a, b);
}
Value KernelBuilder::ori(Value a, Value b) {
  return arith::OrIOp::create(*this, a, b);
}
Value KernelBuilder::cmpi(arith::CmpIPredicate pred, Value a, Value b) {
  return arith::CmpIOp::create(*this, pred, a, b);
}
Value KernelBuilder::cmpi(arith::CmpIPredicate pred, Value a, int64_t b) {
  return cmpi(pred, a, intConst(a.getType(), b));
}
Value KernelBuilder::select(Value cond, Value a, Value b) {
  return arith::SelectOp::create(*this, cond, a, b);
}
Value KernelBuilder::toIndex(Value v) {
  if (v.getType().isIndex())
    return v;
  return arith::IndexCastUIOp::create(*this, getIndexType(), v);
}
Value KernelBuilder::toI32(Value v) {
  if (v.getType().isInteger(32))
    return v;
  if (v.getType().isIndex())
    return arith::IndexCastUIOp::create(*this, getI32Type(), v);
  if (v.getType().getIntOrFloatBitWidth() < 32)
    return zext(v, getI32Type());
  return trunc(v, getI32Type());
}
Value KernelBuilder::toI64(Value v) {
  Type i64 = getI64Type();
  if (v.getType() == i64)
    return v;
  if (v.getType().isIndex())
    return arith::IndexCastUIOp::create(*this, i64, v);
  return zext(v, i64);
}
Value KernelBuilder::zext(Value v, Type type) {
  return arith::ExtUIOp::create(*this, type, v);
}
Value KernelBuilder::trunc(Value v, Type type) {
  return arith::TruncIOp::create(*this, type, v);
}
Value KernelBuilder::bitcast(Value v, Type type) {
  if (v.getType() == type)
    return v;
  if (isa<VectorType>(v.getType()) || isa<VectorType>(type)) {
    auto src = dyn_cast<VectorType>(v.getType());
    auto dst = dyn_cast<VectorType>(type);
    if (!src)
      v = vector::BroadcastOp::create(*this, VectorType::get({1}, v.getType()),
                                      v);
    Type target = dst ? type : VectorType::get({1}, type);
    Value cast = vector::BitCastOp::create(*this, target, v);
    if (!dst)
      return vector::ExtractOp::create(*this, cast, ArrayRef<int64_t>{0});
    return cast;
  }
  return arith::BitcastOp::create(*this, type, v);
}

//===----------------------------------------------------------------------===//
// Floating point
//===----------------------------------------------------------------------===//

Value KernelBuilder::fadd(Value a, Value b) {
  return arith::AddFOp::create(*this, a, b);
}
Value KernelBuilder::fmul(Value a, Value b) {
  return arith::MulFOp::create(*this, a, b);
}
Value KernelBuilder::fma(Value a, Value b, Value c) {
  return math::FmaOp::create(*this, a, b, c);
}
Value KernelBuilder::fabs(Value a) { return math::AbsFOp::create(*this, a); }
Value KernelBuilder::fmax(Value a, Value b) {
  return arith::MaxNumFOp::create(*this, a, b);
}
Value KernelBuilder::cmpf(arith::CmpFPredicate pred, Value a, Value b) {
  return arith::CmpFOp::create(*this, pred, a, b);
}
Value KernelBuilder::castFloat(Value v, Type type) {
  Type from = getElementTypeOrSelf(v.getType());
  Type to = getElementTypeOrSelf(type);
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(*this, type, v);
  if (from.getIntOrFloatBitWidth() > to.getIntOrFloatBitWidth())
    return arith::TruncFOp::create(*this, type, v);
  // f16 <-> bf16: through f32, which is exact for the widening step.
  Type f32Type = getF32Type();
  if (auto vt = dyn_cast<VectorType>(type))
    f32Type = vt.clone(getF32Type());
  return arith::TruncFOp::create(
      *this, type, arith::ExtFOp::create(*this, f32Type, v));
}

//===----------------------------------------------------------------------===//
// Thread indexing
//===----------------------------------------------------------------------===//

Value KernelBuilder::threadId() {
  return ::mlir::gpu::ThreadIdOp::create(*this, ::mlir::gpu::Dimension::x);
}
Value KernelBuilder::blockId(::mlir::gpu::Dimension dim) {
  return ::mlir::gpu::BlockIdOp::create(*this, dim);
}
Value KernelBuilder::gridDim(::mlir::gpu::Dimension dim) {
  return ::mlir::gpu::GridDimOp::create(*this, dim);
}
Value KernelBuilder::laneId() { return remu(toI32(threadId()), 32); }
Value KernelBuilder::warpId() { return shru(toI32(threadId()), 5); }

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

Value KernelBuilder::load(Value memref, ValueRange indices) {
  return memref::LoadOp::create(*this, memref, indices);
}
void KernelBuilder::store(Value value, Value memref, ValueRange indices) {
  memref::StoreOp::create(*this, value, memref, indices);
}
Value KernelBuilder::loadVector(Value memref, Value index, int64_t count,
                                int64_t alignment) {
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  return vector::LoadOp::create(*this, VectorType::get({count}, elt), memref,
                                ValueRange{toIndex(index)},
                                /*nontemporal=*/false,
                                llvm::MaybeAlign(alignment));
}
void KernelBuilder::storeVector(Value vector, Value memref, Value index,
                                int64_t alignment) {
  vector::StoreOp::create(*this, vector, memref, ValueRange{toIndex(index)},
                          /*nontemporal=*/false, llvm::MaybeAlign(alignment));
}
Value KernelBuilder::loadByte(Value memref, Value index) {
  Value v = loadVector(memref, index, 1, 1);
  return bitcast(v, getI8Type());
}
void KernelBuilder::storeByte(Value byte, Value memref, Value index) {
  Type elt = cast<MemRefType>(memref.getType()).getElementType();
  Value v = vector::BroadcastOp::create(
      *this, VectorType::get({1}, byte.getType()), byte);
  v = vector::BitCastOp::create(*this, VectorType::get({1}, elt), v);
  storeVector(v, memref, index, 1);
}
void KernelBuilder::atomicOr(Value value, Value memref, Value index) {
  memref::AtomicRMWOp::create(*this, arith::AtomicRMWKind::ori, value, memref,
                              ValueRange{toIndex(index)});
}
Value KernelBuilder::popcount(Value v) {
  return math::CtPopOp::create(*this, v);
}
Value KernelBuilder::loadBytes16(Value memref, Value index) {
  Value v = loadVector(memref, index, 16, 16);
  return vector::BitCastOp::create(*this,
                                   VectorType::get({4}, getI32Type()), v);
}

Value KernelBuilder::constantTable(StringRef name, Type elementType,
                                   ArrayRef<uint32_t> bits) {
  Operation *scope = getInsertionBlock()->getParentOp();
  auto kernels = isa<::mlir::gpu::GPUModuleOp>(scope)
                     ? cast<::mlir::gpu::GPUModuleOp>(scope)
                     : scope->getParentOfType<::mlir::gpu::GPUModuleOp>();
  auto type = MemRefType::get({static_cast<int64_t>(bits.size())},
                              elementType);
  if (!kernels.lookupSymbol<memref::GlobalOp>(name)) {
    SmallVector<APInt> values;
    for (uint32_t b : bits)
      values.push_back(APInt(32, b));
    auto tensorType = RankedTensorType::get(type.getShape(), getI32Type());
    Attribute init = DenseElementsAttr::get(tensorType, values);
    if (!elementType.isInteger(32))
      init = cast<DenseElementsAttr>(init).bitcast(elementType);
    OpBuilder b = OpBuilder::atBlockBegin(kernels.getBody());
    memref::GlobalOp::create(b, getLoc(), name, b.getStringAttr("private"),
                             type, init, /*constant=*/true,
                             /*alignment=*/b.getI64IntegerAttr(16));
  }
  return memref::GetGlobalOp::create(*this, type, name);
}

//===----------------------------------------------------------------------===//
// Warp shuffles
//===----------------------------------------------------------------------===//

Value KernelBuilder::shuffleXor(Value v, int32_t offset) {
  return ::mlir::gpu::ShuffleOp::create(*this, v, offset, 32,
                                        ::mlir::gpu::ShuffleMode::XOR)
      .getShuffleResult();
}
Value KernelBuilder::shuffleDown(Value v, int32_t offset) {
  return ::mlir::gpu::ShuffleOp::create(*this, v, offset, 32,
                                        ::mlir::gpu::ShuffleMode::DOWN)
      .getShuffleResult();
}
Value KernelBuilder::shuffleIdx(Value v, Value lane) {
  return ::mlir::gpu::ShuffleOp::create(*this, v, toI32(lane), i32(32),
                                        ::mlir::gpu::ShuffleMode::IDX)
      .getShuffleResult();
}
Value KernelBuilder::shuffleUp(Value v, int32_t offset) {
  return ::mlir::gpu::ShuffleOp::create(*this, v, offset, 32,
                                        ::mlir::gpu::ShuffleMode::UP)
      .getShuffleResult();
}
Value KernelBuilder::warpInclusiveScan(Value v) {
  Value lane = laneId();
  for (int32_t off = 1; off < 32; off *= 2) {
    Value up = shuffleUp(v, off);
    v = select(cmpi(arith::CmpIPredicate::uge, lane, off), add(v, up), v);
  }
  return v;
}
Value KernelBuilder::warpSum(Value v) {
  for (int32_t off = 16; off >= 1; off /= 2)
    v = fadd(v, shuffleDown(v, off));
  return v;
}
Value KernelBuilder::warpMax(Value v) {
  for (int32_t off = 16; off >= 1; off /= 2)
    v = fmax(v, shuffleXor(v, off));
  return v;
}

//===----------------------------------------------------------------------===//
// Structured control flow
//===----------------------------------------------------------------------===//

void KernelBuilder::forLoop(
    Value lb, Value ub, Value step,
    llvm::function_ref<void(KernelBuilder &, Value)> body) {
  auto loop = scf::ForOp::create(*this, lb, ub, step);
  OpBuilder::InsertionGuard guard(*this);
  setInsertionPoint(loop.getBody()->getTerminator());
  body(*this, loop.getInductionVar());
}

SmallVector<Value> KernelBuilder::forLoop(
    Value lb, Value ub, Value step, ValueRange init,
    llvm::function_ref<SmallVector<Value>(KernelBuilder &, Value, ValueRange)>
        body) {
  auto loop = scf::ForOp::create(*this, lb, ub, step, init);
  {
    OpBuilder::InsertionGuard guard(*this);
    Block *block = loop.getBody();
    if (!block->empty())
      block->getTerminator()->erase();
    setInsertionPointToEnd(block);
    SmallVector<Value> next =
        body(*this, loop.getInductionVar(), loop.getRegionIterArgs());
    scf::YieldOp::create(*this, next);
  }
  return SmallVector<Value>(loop.getResults());
}

void KernelBuilder::ifThen(Value cond,
                           llvm::function_ref<void(KernelBuilder &)> thenFn) {
  auto op = scf::IfOp::create(*this, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(*this);
  setInsertionPoint(op.thenBlock()->getTerminator());
  thenFn(*this);
}

SmallVector<Value> KernelBuilder::ifThenElse(
    Value cond, TypeRange types,
    llvm::function_ref<SmallVector<Value>(KernelBuilder &)> thenFn,
    llvm::function_ref<SmallVector<Value>(KernelBuilder &)> elseFn) {
  auto op = scf::IfOp::create(*this, types, cond, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(*this);
    for (auto [block, fn] : {std::make_pair(op.thenBlock(), thenFn),
                             std::make_pair(op.elseBlock(), elseFn)}) {
      if (!block->empty())
        block->getTerminator()->erase();
      setInsertionPointToEnd(block);
      scf::YieldOp::create(*this, fn(*this));
    }
  }
  return SmallVector<Value>(op.getResults());
}

void KernelBuilder::barrier() { ::mlir::gpu::BarrierOp::create(*this); }
