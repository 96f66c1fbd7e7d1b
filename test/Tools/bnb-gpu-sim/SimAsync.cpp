//===- SimAsync.cpp - asynchronous copies of bnb-gpu-sim ------------------===//
//
// nvgpu.device_async_copy (cp.async) reads its source at issue but lands in
// workgroup memory only when an nvgpu.device_async_wait retires its group:
// `wait {numGroups = N}` returns once at most N of the thread's committed
// groups are still in flight. Until then the destination bytes are pending,
// and any access to them is a missing wait.
//
//===----------------------------------------------------------------------===//

#include "SimInternal.h"

#include <cstring>

using namespace mlir;
using namespace bnb::sim;

LogicalResult OpRunner::asyncCopy(nvgpu::DeviceAsyncCopyOp c) {
  if (frame.kernel.empty())
    return fail("asynchronous copy outside a kernel");
  LaneValues &dst = get(c.getDst()), &src = get(c.getSrc());
  int64_t n = c.getDstElements().getZExtValue();
  result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    int64_t valid = n;
    if (c.getSrcElements())
      valid = static_cast<int64_t>(get(c.getSrcElements()).at(l));
    if (valid < 0 || valid > n)
      return failLane(l, "source element count " + Twine(valid) +
                             " outside [0, " + Twine(n) + "]");
    const Descriptor &dd = sim.descriptors[dst.at(l)];
    Buffer &to = sim.buffers[dd.buffer];
    int64_t size = n * dd.elementBytes;
    if (!to.workgroup)
      return failLane(l, "asynchronous copy to " + to.name +
                             ", which is not workgroup memory");
    FailureOr<uint8_t *> pd =
        pointer(l, dst.at(l), indicesOf(c.getDstIndices(), l), n,
                Access::None, false, size);
    if (failed(pd))
      return failure();
    AsyncCopy copy;
    copy.buffer = dd.buffer;
    copy.offset = *pd - to.bytes.data();
    copy.bytes.assign(size, 0);
    if (valid > 0) {
      FailureOr<uint8_t *> ps =
          pointer(l, src.at(l), indicesOf(c.getSrcIndices(), l), valid,
                  Access::Read, false, size);
      if (failed(ps))
        return failure();
      std::memcpy(copy.bytes.data(), *ps, valid * dd.elementBytes);
    }
    // The copy may land any time until its wait: it conflicts with what
    // other threads do to its bytes from now on.
    if (failed(track(l, copy.buffer, copy.offset, size, Access::Write)))
      return failure();
    std::vector<ByteAccess> &records = accessesOf(copy.buffer);
    for (int64_t i = 0; i < size; ++i)
      records[copy.offset + i].pending = static_cast<int32_t>(l);
    frame.block.uncommitted[l].push_back(std::move(copy));
  }
  return success();
}

LogicalResult OpRunner::asyncCommit() {
  result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    // An empty group counts as a group, as cp.async.commit_group's does.
    frame.block.groups[l].push_back(std::move(frame.block.uncommitted[l]));
    frame.block.uncommitted[l].clear();
  }
  return success();
}

LogicalResult OpRunner::asyncWait(nvgpu::DeviceAsyncWaitOp w) {
  size_t inFlight = w.getNumGroups() ? *w.getNumGroups() : 0;
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    auto &groups = frame.block.groups[l];
    while (groups.size() > inFlight) {
      for (const AsyncCopy &copy : groups.front())
        if (failed(land(l, copy)))
          return failure();
      groups.pop_front();
    }
  }
  return success();
}

LogicalResult OpRunner::land(unsigned lane, const AsyncCopy &copy) {
  std::vector<ByteAccess> &records = accessesOf(copy.buffer);
  int64_t size = copy.bytes.size();
  for (int64_t i = 0; i < size; ++i)
    records[copy.offset + i].pending = ByteAccess::none;
  if (failed(track(lane, copy.buffer, copy.offset, size, Access::Write)))
    return failure();
  std::memcpy(sim.buffers[copy.buffer].bytes.data() + copy.offset,
              copy.bytes.data(), size);
  return success();
}
