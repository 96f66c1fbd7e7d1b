//===- Simulator.cpp - a SIMT interpreter for GPU-dialect programs --------===//
//
// Control flow, kernel launches and the entry point; the semantics of single
// operations live in the Sim*.cpp files beside this one.
//
//===----------------------------------------------------------------------===//

#include "SimInternal.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cstring>

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

//===----------------------------------------------------------------------===//
// Control flow
//===----------------------------------------------------------------------===//

LogicalResult Simulator::runOp(Operation *op, Frame &frame, const Mask &mask) {
  if (auto loop = dyn_cast<scf::ForOp>(op)) {
    auto lanesOf = [&](Value v) -> LaneValues & { return frame.values[v]; };
    unsigned w = bitWidthOf(loop.getInductionVar().getType());
    LaneValues iv = lanesOf(loop.getLowerBound());
    const LaneValues ub = lanesOf(loop.getUpperBound());
    const LaneValues step = lanesOf(loop.getStep());
    SmallVector<LaneValues> carried;
    for (Value init : loop.getInitArgs())
      carried.push_back(lanesOf(init));
    while (true) {
      Mask active = mask;
      bool any = false;
      for (unsigned l = 0; l < frame.lanes; ++l) {
        if (!mask.test(l))
          continue;
        bool go = loop.getUnsignedCmp()
                      ? truncBits(iv.at(l), w) < truncBits(ub.at(l), w)
                      : signExtend(iv.at(l), w) < signExtend(ub.at(l), w);
        active[l] = go;
        any |= go;
      }
      if (!any)
        break;
      SmallVector<LaneValues> args = {iv};
      args.append(carried.begin(), carried.end());
      SmallVector<LaneValues> yielded;
      if (failed(runBlock(*loop.getBody(), frame, active, args, &yielded)))
        return failure();
      for (unsigned l = 0; l < frame.lanes; ++l) {
        if (!active.test(l))
          continue;
        iv.at(l) = truncBits(iv.at(l) + step.at(l), w);
        for (auto [c, y] : llvm::zip(carried, yielded))
          for (unsigned i = 0; i < c.width; ++i)
            c.at(l, i) = y.at(l, i);
      }
    }
    for (auto [r, c] : llvm::zip(loop.getResults(), carried))
      frame.values[r] = c;
    return success();
  }
  if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
    const LaneValues cond = frame.values[ifOp.getCondition()];
    Mask thenMask = mask, elseMask = mask;
    for (unsigned l = 0; l < frame.lanes; ++l) {
      bool c = cond.at(l) & 1;
      thenMask[l] = mask.test(l) && c;
      elseMask[l] = mask.test(l) && !c;
    }
    SmallVector<LaneValues> thenVals, elseVals;
    if (thenMask.any() &&
        failed(runBlock(*ifOp.thenBlock(), frame, thenMask, {}, &thenVals)))
      return failure();
    if (elseMask.any() && ifOp.elseBlock() &&
        failed(runBlock(*ifOp.elseBlock(), frame, elseMask, {}, &elseVals)))
      return failure();
    for (auto [i, r] : llvm::enumerate(ifOp.getResults())) {
      LaneValues out(frame.lanes, widthOf(r.getType()));
      for (unsigned l = 0; l < frame.lanes; ++l) {
        const LaneValues *src = thenMask.test(l)   ? &thenVals[i]
                                : elseMask.test(l) ? &elseVals[i]
                                                   : nullptr;
        if (src)
          for (unsigned e = 0; e < out.width; ++e)
            out.at(l, e) = src->at(l, e);
      }
      frame.values[r] = std::move(out);
    }
    return success();
  }
  if (isa<gpu::LaunchFuncOp>(op))
    return launch(op, frame);
  return OpRunner(*this, frame, mask, op).run();
}

LogicalResult Simulator::runBlock(Block &block, Frame &frame, const Mask &mask,
                                  ArrayRef<LaneValues> args,
                                  SmallVectorImpl<LaneValues> *yielded) {
  for (auto [arg, value] : llvm::zip(block.getArguments(), args))
    frame.values[arg] = value;
  for (Operation &op : block) {
    if (isa<scf::YieldOp, func::ReturnOp, gpu::ReturnOp>(op)) {
      if (yielded)
        for (Value v : op.getOperands())
          yielded->push_back(frame.values[v]);
      return success();
    }
    if (failed(runOp(&op, frame, mask)))
      return failure();
  }
  return success();
}

LogicalResult Simulator::launch(Operation *launchOp, Frame &host) {
  auto l = cast<gpu::LaunchFuncOp>(launchOp);
  auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
      launchOp, l.getKernel());
  if (!kernel)
    return launchOp->emitError("bnb-gpu-sim: unknown kernel");
  auto hostValue = [&](Value v) { return host.values[v].at(0); };
  gpu::KernelDim3 grid = l.getGridSizeOperandValues();
  gpu::KernelDim3 block = l.getBlockSizeOperandValues();
  std::array<int64_t, 3> gridDim = {
      static_cast<int64_t>(hostValue(grid.x)),
      static_cast<int64_t>(hostValue(grid.y)),
      static_cast<int64_t>(hostValue(grid.z))};
  std::array<int64_t, 3> blockDim = {
      static_cast<int64_t>(hostValue(block.x)),
      static_cast<int64_t>(hostValue(block.y)),
      static_cast<int64_t>(hostValue(block.z))};
  int64_t threads = blockDim[0] * blockDim[1] * blockDim[2];
  if (gridDim[0] <= 0 || gridDim[1] <= 0 || gridDim[2] <= 0 || threads <= 0 ||
      threads > 1024 || gridDim[1] > 65535 || gridDim[2] > 65535)
    return launchOp->emitError("bnb-gpu-sim: invalid launch configuration");
  if (std::optional<ArrayRef<int32_t>> known = kernel.getKnownBlockSize())
    for (unsigned i = 0; i < 3; ++i)
      if ((*known)[i] != blockDim[i])
        return launchOp->emitError(
            "bnb-gpu-sim: block size differs from the kernel's known size");
  ++launches;
  Block &entry = kernel.getBody().front();
  for (int64_t bz = 0; bz < gridDim[2]; ++bz)
    for (int64_t by = 0; by < gridDim[1]; ++by)
      for (int64_t bx = 0; bx < gridDim[0]; ++bx) {
        Frame frame;
        frame.lanes = threads;
        frame.blockId = {bx, by, bz};
        frame.blockDim = blockDim;
        frame.gridDim = gridDim;
        frame.kernel = kernel.getName().str();
        frame.block.uncommitted.resize(threads);
        frame.block.groups.resize(threads);
        for (int64_t t = 0; t < threads; ++t)
          frame.threadIds.push_back({t % blockDim[0],
                                     (t / blockDim[0]) % blockDim[1],
                                     t / (blockDim[0] * blockDim[1])});
        SmallVector<LaneValues> args;
        for (Value operand : l.getKernelOperands()) {
          const LaneValues &h = host.values[operand];
          LaneValues lv(threads, h.width);
          for (int64_t t = 0; t < threads; ++t)
            for (unsigned i = 0; i < h.width; ++i)
              lv.at(t, i) = h.at(0, i);
          args.push_back(std::move(lv));
        }
        SmallVector<unsigned> workgroup;
        for (auto [i, wg] :
             llvm::enumerate(kernel.getWorkgroupAttributions())) {
          auto type = cast<MemRefType>(wg.getType());
          unsigned bytes = elementBytes(type.getElementType());
          unsigned buf = newBuffer(type.getNumElements() * bytes, 0xCD,
                                   "workgroup buffer " + std::to_string(i));
          buffers[buf].workgroup = true;
          workgroup.push_back(buf);
          unsigned d =
              newDescriptor(contiguousDescriptor(buf, type.getShape(), bytes));
          LaneValues lv(threads, 1);
          for (int64_t t = 0; t < threads; ++t)
            lv.at(t) = d;
          args.push_back(std::move(lv));
        }
        Mask all(threads, true);
        if (failed(runBlock(entry, frame, all, args, nullptr)))
          return failure();
        // Workgroup memory ends with its block; copies still in flight
        // land nowhere.
        for (unsigned buf : workgroup) {
          buffers[buf].bytes = {};
          buffers[buf].freed = true;
        }
      }
  return success();
}

//===----------------------------------------------------------------------===//
// Entry
//===----------------------------------------------------------------------===//

LogicalResult Simulator::run(StringRef name, ArrayRef<NpyArray> inputs,
                             std::vector<NpyArray> &outputs) {
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func || func.isExternal())
    return module.emitError("bnb-gpu-sim: no function @") << name;
  if (func.getNumArguments() < inputs.size())
    return func.emitError("bnb-gpu-sim: expected at most ")
           << func.getNumArguments() << " inputs, got " << inputs.size();
  Frame host;
  host.threadIds.push_back({0, 0, 0});
  // Host code issues no copies, but may commit and wait for (empty) groups.
  host.block.uncommitted.resize(1);
  host.block.groups.resize(1);
  auto argumentName = [&](unsigned i) {
    return "argument " + std::to_string(i) + " of @" + name.str();
  };
  SmallVector<LaneValues> args;
  lastEntry = func;
  inputDescriptors.clear();
  // Arguments past the given inputs are out-parameters: fresh buffers (not
  // zeroed, so that unwritten elements show) returned after the run.
  SmallVector<unsigned> outParams;
  for (BlockArgument arg : func.getArguments().drop_front(inputs.size())) {
    auto m = dyn_cast<MemRefType>(arg.getType());
    if (!m || !m.hasStaticShape())
      return func.emitError("bnb-gpu-sim: missing input for argument ")
             << arg.getArgNumber();
    unsigned bytes = elementBytes(m.getElementType());
    unsigned buf = newBuffer(m.getNumElements() * bytes, 0xAB,
                             argumentName(arg.getArgNumber()));
    outParams.push_back(
        newDescriptor(contiguousDescriptor(buf, m.getShape(), bytes)));
  }
  for (auto [arg, input] : llvm::zip(func.getArguments(), inputs)) {
    Type type = arg.getType();
    LaneValues lv(1, 1);
    if (auto m = dyn_cast<MemRefType>(type)) {
      Type elt = m.getElementType();
      if (input.dtype != dtypeOf(elt))
        return func.emitError("bnb-gpu-sim: input dtype ")
               << input.dtype << " does not match " << type;
      if (input.shape.size() != static_cast<size_t>(m.getRank()))
        return func.emitError("bnb-gpu-sim: input rank mismatch for ")
               << type;
      for (auto [s, d] : llvm::zip(m.getShape(), input.shape))
        if (!ShapedType::isDynamic(s) && s != d)
          return func.emitError("bnb-gpu-sim: input shape mismatch for ")
                 << type;
      unsigned buf = newBuffer(0, 0, argumentName(arg.getArgNumber()));
      buffers[buf].bytes = input.data;
      lv.at(0) = newDescriptor(
          contiguousDescriptor(buf, input.shape, elementBytes(elt)));
      inputDescriptors.push_back({static_cast<unsigned>(lv.at(0)), type});
    } else {
      uint64_t v = 0;
      std::memcpy(&v, input.data.data(),
                  std::min<size_t>(8, input.data.size()));
      lv.at(0) = v;
      inputDescriptors.push_back({0, type});
    }
    args.push_back(std::move(lv));
  }
  for (unsigned d : outParams) {
    LaneValues lv(1, 1);
    lv.at(0) = d;
    args.push_back(std::move(lv));
  }
  SmallVector<LaneValues> results;
  Mask one(1, true);
  if (failed(runBlock(func.getBody().front(), host, one, args, &results)))
    return failure();
  SmallVector<std::pair<unsigned, Type>> returned;
  for (auto [d, arg] : llvm::zip(
           outParams, func.getArguments().drop_front(inputs.size())))
    returned.push_back({d, arg.getType()});
  for (auto [value, type] : llvm::zip(results, func.getResultTypes()))
    returned.push_back({static_cast<unsigned>(value.at(0)), type});
  for (auto [desc, type] : returned) {
    FailureOr<NpyArray> out = readDescriptor(desc, type);
    if (failed(out))
      return failure();
    outputs.push_back(std::move(*out));
  }
  return success();
}

FailureOr<NpyArray> Simulator::inputAfterRun(unsigned index) {
  if (!lastEntry || index >= inputDescriptors.size())
    return module.emitError("bnb-gpu-sim: no input ") << index;
  auto [desc, type] = inputDescriptors[index];
  return readDescriptor(desc, type);
}
