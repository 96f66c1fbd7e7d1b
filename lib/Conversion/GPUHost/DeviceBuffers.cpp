//===- DeviceBuffers.cpp - host buffers in device memory ------------------===//
//
// The bnb-gpu-device-memory pass: host allocations and copies become device
// allocations and device copies, and host accesses to device memory are
// rejected. Reads of constant globals stay: bnb-gpu-resident-constants
// turns them into the constants' device copies in the host lowering.
//
//===----------------------------------------------------------------------===//

#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBGPUDEVICEMEMORY
#include "bnb/Conversion/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;

namespace {

/// The buffer a memref value views, looking through view-like ops.
Value rootBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (auto view = dyn_cast<ViewLikeOpInterface>(def)) {
      v = view.getViewSource();
      continue;
    }
    if (auto cast = dyn_cast<memref::CastOp>(def)) {
      v = cast.getSource();
      continue;
    }
    break;
  }
  return v;
}

/// True for buffers that live in host memory: stack allocations and
/// allocations that the host alone loads and stores (bookkeeping of buffer
/// deallocation).
bool isHostBuffer(Value root) {
  Operation *def = root.getDefiningOp();
  if (!def)
    return false;
  if (isa<memref::AllocaOp>(def))
    return true;
  if (!isa<memref::AllocOp>(def))
    return false;
  for (Operation *user : root.getUsers())
    if (!isa<memref::LoadOp, memref::StoreOp, memref::DeallocOp>(user))
      return false;
  return true;
}

/// Moves host allocations, deallocations and copies to the device.
void convertBuffers(func::FuncOp func) {
  SmallVector<memref::AllocOp> allocs;
  func.walk([&](memref::AllocOp op) {
    if (!isHostBuffer(op.getResult()))
      allocs.push_back(op);
  });
  DenseSet<Value> device;
  for (memref::AllocOp alloc : allocs) {
    OpBuilder b(alloc);
    auto gpuAlloc = gpu::AllocOp::create(
        b, alloc.getLoc(), alloc.getType(), /*asyncToken=*/Type(),
        /*asyncDependencies=*/ValueRange{}, alloc.getDynamicSizes(),
        alloc.getSymbolOperands(), /*hostShared=*/false);
    alloc.replaceAllUsesWith(gpuAlloc.getMemref());
    alloc.erase();
    device.insert(gpuAlloc.getMemref());
  }
  SmallVector<memref::DeallocOp> deallocs;
  func.walk([&](memref::DeallocOp op) {
    if (!isHostBuffer(rootBuffer(op.getMemref())))
      deallocs.push_back(op);
  });
  for (memref::DeallocOp dealloc : deallocs) {
    OpBuilder b(dealloc);
    gpu::DeallocOp::create(b, dealloc.getLoc(), /*asyncToken=*/Type(),
                           ValueRange{}, dealloc.getMemref());
    dealloc.erase();
  }
  SmallVector<memref::CopyOp> copies;
  func.walk([&](memref::CopyOp op) { copies.push_back(op); });
  for (memref::CopyOp copy : copies) {
    OpBuilder b(copy);
    gpu::MemcpyOp::create(b, copy.getLoc(), /*asyncToken=*/Type(),
                          ValueRange{}, copy.getTarget(), copy.getSource());
    copy.erase();
  }
}

/// Largest argument, in elements, whose values the host may read.
constexpr int64_t kMaxHostScalars = 4;

/// Gives the host the values of small integer arguments that only the host
/// reads (a generation step's position): they are copied once at function
/// entry from the device into a host buffer, which the loads then read. One
/// copy of a few bytes per call, and the launches see host-computed offsets
/// and sizes.
void readScalarArgumentsOnHost(func::FuncOp func) {
  Block &entry = func.getBody().front();
  for (BlockArgument arg : func.getArguments()) {
    auto type = dyn_cast<MemRefType>(arg.getType());
    if (!type || !type.hasStaticShape() || !type.getLayout().isIdentity() ||
        !type.getElementType().isSignlessIntOrIndex() ||
        type.getNumElements() > kMaxHostScalars || arg.use_empty())
      continue;
    bool hostReadsOnly = llvm::all_of(arg.getUsers(), [](Operation *user) {
      return isa<memref::LoadOp>(user) &&
             !user->getParentOfType<gpu::LaunchOp>();
    });
    if (!hostReadsOnly)
      continue;
    OpBuilder b(&entry, entry.begin());
    Location loc = arg.getLoc();
    auto host = memref::AllocaOp::create(b, loc, type);
    auto copy = gpu::MemcpyOp::create(b, loc, Type(), ValueRange{}, host, arg);
    arg.replaceUsesWithIf(
        host, [&](OpOperand &use) { return use.getOwner() != copy; });
  }
}

/// True for a generation step: a function with KV cache arguments.
bool isGenerationStep(func::FuncOp func) {
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    if (func.getArgAttr(i, bnb::kKvCacheAttr))
      return true;
  return false;
}

/// Moves the frees of a generation step's intermediates to its return.
/// cuMemFree waits for the device, so a free after each last use would
/// stop the host many times per layer; at the end, the first free waits
/// once for the whole step. A step handles at most a prefill chunk of
/// tokens, so keeping its intermediates to the end costs little memory.
void deferFreesToReturn(func::FuncOp func) {
  if (!isGenerationStep(func) || !func.getBody().hasOneBlock())
    return;
  Block &body = func.getBody().front();
  Operation *ret = body.getTerminator();
  SmallVector<gpu::DeallocOp> frees;
  for (auto free : body.getOps<gpu::DeallocOp>())
    frees.push_back(free);
  for (gpu::DeallocOp free : frees)
    free->moveBefore(ret);
}

/// Reports host loads and stores of device memory.
LogicalResult checkHostAccesses(func::FuncOp func) {
  WalkResult result = func.walk([&](Operation *op) {
    if (op->getParentOfType<gpu::LaunchOp>())
      return WalkResult::skip();
    Value memref;
    if (auto load = dyn_cast<memref::LoadOp>(op))
      memref = load.getMemref();
    else if (auto store = dyn_cast<memref::StoreOp>(op))
      memref = store.getMemref();
    else if (isa<scf::ParallelOp>(op))
      return op->emitOpError()
                 << "was not mapped to the GPU: host code cannot run it",
             WalkResult::interrupt();
    if (!memref || isHostBuffer(rootBuffer(memref)))
      return WalkResult::advance();
    op->emitOpError() << "accesses device memory from host code; only "
                         "kernels may read or write GPU buffers";
    return WalkResult::interrupt();
  });
  return failure(result.wasInterrupted());
}

struct BnbGPUDeviceMemoryPass
    : public bnb::impl::BnbGPUDeviceMemoryBase<BnbGPUDeviceMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool failed = false;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      convertBuffers(func);
      readScalarArgumentsOnHost(func);
      deferFreesToReturn(func);
      if (mlir::failed(checkHostAccesses(func)))
        failed = true;
      if (emitCInterface && func.isPublic())
        func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                      UnitAttr::get(&getContext()));
    }
    if (failed)
      signalPassFailure();
  }
};

} // namespace
