//===- MapHostCompute.cpp - map host-side loops onto GPU threads ----------===//
//
// The bnb-gpu-map-host-compute pass: after bufferization and
// linalg-to-parallel-loops, turns every piece of host-side compute into
// mapped scf.parallel loops that convert-parallel-loops-to-gpu makes into
// kernels.
//
//===----------------------------------------------------------------------===//

#include "bnb/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBGPUMAPHOSTCOMPUTE
#include "bnb/Conversion/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;

namespace {

/// Threads per block of the mapped loops: 32 along the innermost dimension
/// (one warp, coalesced) times 8 along the next.
constexpr int64_t kInnerTile = 32;
constexpr int64_t kOuterTile = 8;
constexpr int64_t kFlatTile = 256;

/// True when `op` is inside device code or a loop already mapped to it.
bool isOnDevice(Operation *op) {
  return op->getParentOfType<gpu::LaunchOp>() ||
         op->getParentOfType<gpu::GPUModuleOp>() ||
         op->getParentOfType<scf::ParallelOp>();
}

/// Replaces a copy between non-identity layouts by a parallel copy loop.
void lowerStridedCopy(memref::CopyOp copy) {
  auto srcType = cast<MemRefType>(copy.getSource().getType());
  auto dstType = cast<MemRefType>(copy.getTarget().getType());
  if (srcType.getLayout().isIdentity() && dstType.getLayout().isIdentity())
    return;
  OpBuilder b(copy);
  Location loc = copy.getLoc();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t i = 0; i < dstType.getRank(); ++i) {
    lbs.push_back(zero);
    steps.push_back(one);
    ubs.push_back(memref::DimOp::create(b, loc, copy.getTarget(), i));
  }
  if (dstType.getRank() == 0) {
    // A scalar copy: one iteration.
    lbs.push_back(zero);
    ubs.push_back(one);
    steps.push_back(one);
  }
  scf::ParallelOp::create(
      b, loc, lbs, ubs, steps,
      [&](OpBuilder &nb, Location nloc, ValueRange ivs) {
        ValueRange indices = dstType.getRank() == 0 ? ValueRange{} : ivs;
        Value v = memref::LoadOp::create(nb, nloc, copy.getSource(), indices);
        memref::StoreOp::create(nb, nloc, v, copy.getTarget(), indices);
      });
  copy.erase();
}

/// True when `op` may be moved into a kernel as a whole: it allocates
/// nothing, calls nothing and launches nothing, and its results are unused.
bool isMovableCompute(Operation *op) {
  if (!op->use_empty())
    return false;
  WalkResult r = op->walk([](Operation *inner) {
    if (isa<memref::AllocOp, memref::AllocaOp, memref::DeallocOp,
            CallOpInterface, gpu::LaunchFuncOp, gpu::LaunchOp>(inner))
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return !r.wasInterrupted();
}

/// Wraps host stores (and the sequential loops around them) in a
/// single-iteration parallel loop so that they run in a one-thread kernel.
void wrapScalarStores(func::FuncOp func) {
  SmallVector<memref::StoreOp> stores;
  func.walk([&](memref::StoreOp store) {
    if (!isOnDevice(store))
      stores.push_back(store);
  });
  for (memref::StoreOp store : stores) {
    if (isOnDevice(store))
      continue; // Moved along with an earlier store.
    Operation *root = store;
    while (Operation *parent = root->getParentOp()) {
      if (!isa<scf::ForOp, scf::IfOp, scf::WhileOp>(parent) ||
          !isMovableCompute(parent))
        break;
      root = parent;
    }
    OpBuilder b(root);
    Location loc = root->getLoc();
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    auto wrapper = scf::ParallelOp::create(b, loc, ValueRange{zero},
                                           ValueRange{one}, ValueRange{one});
    root->moveBefore(wrapper.getBody()->getTerminator());
  }
}

/// Tiles an outermost parallel loop into 256-thread blocks and maps it,
/// innermost dimension first.
void tileAndMap(scf::ParallelOp loop) {
  int64_t rank = loop.getNumLoops();
  SmallVector<int64_t> tiles(rank, 1);
  if (rank == 1) {
    tiles[0] = kFlatTile;
  } else {
    tiles[rank - 1] = kInnerTile;
    tiles[rank - 2] = kOuterTile;
  }
  auto [outer, inner] =
      scf::tileParallelLoop(loop, tiles, /*noMinMaxBounds=*/true);
  MLIRContext *ctx = loop.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  auto mapping = [&](scf::ParallelOp op, gpu::Processor first) {
    SmallVector<gpu::ParallelLoopDimMappingAttr> attrs;
    int64_t n = op.getNumLoops();
    for (int64_t d = 0; d < n; ++d) {
      int64_t fromInner = n - 1 - d;
      gpu::Processor p =
          fromInner < 3 ? static_cast<gpu::Processor>(
                              static_cast<int64_t>(first) + fromInner)
                        : gpu::Processor::Sequential;
      attrs.push_back(gpu::ParallelLoopDimMappingAttr::get(ctx, p, id, id));
    }
    (void)gpu::setMappingAttr(op, attrs);
  };
  mapping(outer, gpu::Processor::BlockX);
  mapping(inner, gpu::Processor::ThreadX);
  // Parallel loops nested in the body run sequentially in each thread.
  inner.getBody()->walk([&](scf::ParallelOp nested) {
    SmallVector<gpu::ParallelLoopDimMappingAttr> attrs(
        nested.getNumLoops(), gpu::ParallelLoopDimMappingAttr::get(
                                  ctx, gpu::Processor::Sequential, id, id));
    (void)gpu::setMappingAttr(nested, attrs);
  });
}

struct BnbGPUMapHostComputePass
    : public bnb::impl::BnbGPUMapHostComputeBase<BnbGPUMapHostComputePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SmallVector<memref::CopyOp> copies;
    func.walk([&](memref::CopyOp copy) {
      if (!isOnDevice(copy))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies)
      lowerStridedCopy(copy);
    wrapScalarStores(func);

    SmallVector<scf::ParallelOp> outermost;
    func.walk([&](scf::ParallelOp loop) {
      if (!loop->getParentOfType<scf::ParallelOp>() &&
          !loop->getParentOfType<gpu::LaunchOp>() &&
          !loop->hasAttr(gpu::getMappingAttrName()))
        outermost.push_back(loop);
    });
    for (scf::ParallelOp loop : outermost)
      tileAndMap(loop);
  }
};

} // namespace
