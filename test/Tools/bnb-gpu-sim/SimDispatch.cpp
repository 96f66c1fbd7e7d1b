//===- SimDispatch.cpp - operation dispatch of bnb-gpu-sim ----------------===//

#include "SimInternal.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

static std::string triple(ArrayRef<int64_t> v) {
  return "(" + std::to_string(v[0]) + "," + std::to_string(v[1]) + "," +
         std::to_string(v[2]) + ")";
}

LogicalResult OpRunner::fail(const Twine &msg) {
  if (frame.kernel.empty())
    return op->emitError("bnb-gpu-sim: ") << msg;
  return op->emitError("bnb-gpu-sim: kernel @")
         << frame.kernel << ", block " << triple(frame.blockId) << ": '"
         << op->getName() << "': " << msg;
}

std::string OpRunner::threadName(unsigned lane) const {
  return "thread " + triple(frame.threadIds[lane]);
}

LogicalResult OpRunner::failLane(unsigned lane, const Twine &msg) {
  if (frame.kernel.empty())
    return fail(msg);
  return fail(threadName(lane) + ": " + msg);
}

LogicalResult OpRunner::run() {
  auto uniform = [&](int64_t v) {
    LaneValues &r = result();
    for (unsigned l = 0; l < frame.lanes; ++l)
      r.at(l) = static_cast<uint64_t>(v);
    return success();
  };
  auto perThread = [&](gpu::Dimension d) {
    LaneValues &r = result();
    for (unsigned l = 0; l < frame.lanes; ++l)
      r.at(l) = frame.threadIds[l][static_cast<unsigned>(d)];
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](arith::ConstantOp c) { return constant(c); })
      .Case<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivUIOp,
            arith::DivSIOp, arith::RemUIOp, arith::RemSIOp, arith::AndIOp,
            arith::OrIOp, arith::XOrIOp, arith::ShLIOp, arith::ShRUIOp,
            arith::ShRSIOp, arith::MinUIOp, arith::MaxUIOp, arith::MinSIOp,
            arith::MaxSIOp, arith::CeilDivUIOp, arith::CeilDivSIOp,
            arith::FloorDivSIOp>([&](Operation *) { return intBinary(); })
      .Case<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
            arith::MaxNumFOp, arith::MinNumFOp, arith::MaximumFOp,
            arith::MinimumFOp, arith::RemFOp, math::PowFOp,
            math::CopySignOp>([&](Operation *) { return floatBinary(); })
      .Case<math::FmaOp>([&](Operation *) { return fma(); })
      .Case<math::AbsFOp, arith::NegFOp, math::RoundEvenOp, math::FloorOp,
            math::CeilOp, math::SqrtOp, math::RsqrtOp, math::ExpOp,
            math::Exp2Op, math::LogOp, math::TanhOp, math::ErfOp, math::SinOp,
            math::CosOp>([&](Operation *) { return floatUnary(); })
      .Case([&](math::CtPopOp p) {
        LaneValues &a = get(p.getOperand());
        LaneValues &r = result();
        for (unsigned l = 0; l < frame.lanes; ++l)
          if (active(l))
            r.at(l) = llvm::popcount(
                truncBits(a.at(l), bitWidthOf(p.getType())));
        return success();
      })
      .Case<arith::ExtUIOp, arith::ExtSIOp, arith::TruncIOp, arith::IndexCastOp,
            arith::IndexCastUIOp, arith::ExtFOp, arith::TruncFOp,
            arith::SIToFPOp, arith::UIToFPOp, arith::FPToSIOp,
            arith::FPToUIOp, arith::BitcastOp>(
          [&](Operation *) { return conversion(); })
      .Case<arith::CmpIOp, arith::CmpFOp>([&](Operation *) { return cmp(); })
      .Case([&](arith::SelectOp s) { return select(s); })
      .Case([&](ub::PoisonOp) { return uniform(0); })
      // Memory.
      .Case([&](memref::LoadOp l) {
        return load(l.getMemref(), l.getIndices(), false, std::nullopt);
      })
      .Case([&](memref::StoreOp s) {
        return store(s.getValue(), s.getMemref(), s.getIndices(),
                     std::nullopt);
      })
      .Case([&](vector::LoadOp l) {
        return load(l.getBase(), l.getIndices(), true, l.getAlignment());
      })
      .Case([&](vector::StoreOp s) {
        return store(s.getValueToStore(), s.getBase(), s.getIndices(),
                     s.getAlignment());
      })
      .Case([&](memref::AtomicRMWOp a) { return atomic(a); })
      .Case([&](memref::GetGlobalOp g) -> LogicalResult {
        FailureOr<unsigned> d = sim.globalDescriptor(op, g.getName());
        if (failed(d))
          return failure();
        return uniform(*d);
      })
      .Case([&](memref::DimOp d) -> LogicalResult {
        LaneValues &m = get(d.getSource()), &i = get(d.getIndex());
        LaneValues &r = result();
        for (unsigned l = 0; l < frame.lanes; ++l)
          if (active(l))
            r.at(l) = sim.descriptors[m.at(l)].sizes[i.at(l)];
        return success();
      })
      .Case<memref::CastOp, memref::CollapseShapeOp, memref::ExpandShapeOp,
            memref::SubViewOp, memref::ReinterpretCastOp>(
          [&](Operation *) { return view(); })
      .Case<memref::AllocOp, memref::AllocaOp, gpu::AllocOp>(
          [&](Operation *) -> LogicalResult {
            auto type = cast<MemRefType>(op->getResult(0).getType());
            ValueRange dynSizes =
                isa<gpu::AllocOp>(op) ? cast<gpu::AllocOp>(op).getDynamicSizes()
                : isa<memref::AllocOp>(op)
                    ? cast<memref::AllocOp>(op).getDynamicSizes()
                    : cast<memref::AllocaOp>(op).getDynamicSizes();
            SmallVector<int64_t> shape(type.getShape());
            unsigned dyn = 0;
            for (int64_t &s : shape)
              if (ShapedType::isDynamic(s))
                s = static_cast<int64_t>(get(dynSizes[dyn++]).at(0));
            int64_t n = 1;
            for (int64_t s : shape)
              n *= s;
            unsigned bytes = elementBytes(type.getElementType());
            // Fresh memory is not zero: 0xAB makes reads of it visible.
            unsigned buf = sim.newBuffer(
                n * bytes, 0xAB,
                ("the buffer of '" + op->getName().getStringRef() + "'").str());
            LaneValues &r = result(0);
            r.at(0) = sim.newDescriptor(contiguousDescriptor(buf, shape, bytes));
            for (unsigned l = 1; l < frame.lanes; ++l)
              r.at(l) = r.at(0);
            if (op->getNumResults() > 1)
              result(1);
            return success();
          })
      .Case<memref::DeallocOp, gpu::DeallocOp>([&](Operation *) -> LogicalResult {
        Value m = isa<gpu::DeallocOp>(op) ? cast<gpu::DeallocOp>(op).getMemref()
                                          : op->getOperand(0);
        Buffer &buf = sim.buffers[sim.descriptors[get(m).at(0)].buffer];
        if (buf.freed)
          return fail("double free");
        buf.freed = true;
        if (op->getNumResults())
          result(0);
        return success();
      })
      .Case([&](memref::CopyOp c) { return copy(c.getSource(), c.getTarget()); })
      .Case([&](gpu::MemcpyOp c) -> LogicalResult {
        if (c.getAsyncToken())
          result(0);
        return copy(c.getSrc(), c.getDst());
      })
      .Case([&](gpu::WaitOp w) -> LogicalResult {
        if (w.getAsyncToken())
          result(0);
        return success();
      })
      // Vectors.
      .Case<vector::BitCastOp, vector::ExtractOp, vector::InsertOp,
            vector::BroadcastOp, vector::FromElementsOp, vector::ShapeCastOp,
            vector::ToElementsOp>(
          [&](Operation *) { return vectorOp(); })
      // GPU.
      .Case([&](gpu::ThreadIdOp t) { return perThread(t.getDimension()); })
      .Case([&](gpu::BlockIdOp b) {
        return uniform(frame.blockId[static_cast<unsigned>(b.getDimension())]);
      })
      .Case([&](gpu::BlockDimOp b) {
        return uniform(frame.blockDim[static_cast<unsigned>(b.getDimension())]);
      })
      .Case([&](gpu::GridDimOp g) {
        return uniform(frame.gridDim[static_cast<unsigned>(g.getDimension())]);
      })
      .Case([&](gpu::ShuffleOp s) { return shuffle(s); })
      .Case([&](gpu::BarrierOp) { return barrier(); })
      .Case([&](nvgpu::LdMatrixOp l) { return ldmatrix(l); })
      .Case([&](nvgpu::MmaSyncOp m) {
        Type elt = m.getMatrixA().getType().getElementType();
        int64_t k = cast<IntegerAttr>(m.getMmaShape()[2]).getInt();
        return mma(m, elt, k, {m.getMatrixA()}, {m.getMatrixB()},
                   {m.getMatrixC()});
      })
      .Case([&](NVVM::MmaOp m) -> LogicalResult {
        std::optional<NVVM::MMATypes> t = m.getMultiplicandAPtxType();
        if (!t || *t != NVVM::MMATypes::bf16)
          return fail("only bf16 nvvm.mma.sync is simulated");
        SmallVector<Value> a(m.getOperandA()), b(m.getOperandB()),
            c(m.getOperandC());
        return mma(m, BFloat16Type::get(op->getContext()), 16, a, b, c);
      })
      .Case([&](LLVM::ExtractValueOp e) -> LogicalResult {
        LaneValues &s = get(e.getContainer());
        LaneValues &r = result();
        int64_t pos = e.getPosition()[0];
        for (unsigned l = 0; l < frame.lanes; ++l)
          if (active(l))
            r.at(l) = s.at(l, pos);
        return success();
      })
      .Case([&](nvgpu::DeviceAsyncCopyOp c) { return asyncCopy(c); })
      .Case([&](nvgpu::DeviceAsyncCreateGroupOp) { return asyncCommit(); })
      .Case([&](nvgpu::DeviceAsyncWaitOp w) { return asyncWait(w); })
      .Default([&](Operation *) {
        return fail("unsupported operation '" +
                    op->getName().getStringRef() + "'");
      });
}
