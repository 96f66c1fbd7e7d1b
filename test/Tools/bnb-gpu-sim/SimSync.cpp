//===- SimSync.cpp - barriers and workgroup memory races of bnb-gpu-sim ---===//
//
// The block runs in lockstep, which would hide every missing barrier: each
// byte of workgroup memory therefore remembers which threads read, wrote or
// atomically updated it since the last gpu.barrier, and an access that
// conflicts with another thread's is reported as a data race. Lanes of one
// warp get no exemption: since Volta, threads of a warp are scheduled
// independently, and only a barrier (or __syncwarp, which the compiler does
// not emit) orders their shared-memory accesses.
//
//===----------------------------------------------------------------------===//

#include "SimInternal.h"

using namespace mlir;
using namespace bnb::sim;

std::vector<ByteAccess> &OpRunner::accessesOf(unsigned buffer) {
  std::vector<ByteAccess> &records = frame.block.accesses[buffer];
  if (records.empty())
    records.resize(sim.buffers[buffer].bytes.size());
  return records;
}

static const char *verb(Access kind) {
  switch (kind) {
  case Access::Read:
    return "reads";
  case Access::Write:
    return "writes";
  case Access::Atomic:
    return "atomically updates";
  case Access::None:
    break;
  }
  return "accesses";
}

LogicalResult OpRunner::track(unsigned lane, unsigned buffer, int64_t offset,
                              int64_t bytes, Access kind) {
  std::vector<ByteAccess> &records = accessesOf(buffer);
  const std::string &name = sim.buffers[buffer].name;
  uint32_t phase = frame.block.phase;
  int32_t self = static_cast<int32_t>(lane);
  auto other = [&](int32_t who) {
    return who != ByteAccess::none && who != self;
  };
  auto who = [&](int32_t t) {
    return t == ByteAccess::several ? std::string("several threads")
                                    : threadName(t);
  };
  for (int64_t i = offset; i < offset + bytes; ++i) {
    ByteAccess &b = records[i];
    if (b.pending != ByteAccess::none)
      return failLane(lane, Twine(verb(kind)) + " byte " + Twine(i) + " of " +
                                name + " before the asynchronous copy to it by " +
                                who(b.pending) + " landed (missing wait)");
    if (b.phase != phase) {
      b.phase = phase;
      b.writer = b.reader = b.atomic = ByteAccess::none;
    }
    const char *conflict = nullptr;
    int32_t with = ByteAccess::none;
    if (other(b.writer)) {
      conflict = "written";
      with = b.writer;
    } else if (kind != Access::Read && other(b.reader)) {
      conflict = "read";
      with = b.reader;
    } else if (kind != Access::Atomic && other(b.atomic)) {
      conflict = "atomically updated";
      with = b.atomic;
    }
    if (conflict)
      return failLane(lane, "data race: " + Twine(verb(kind)) + " byte " +
                                Twine(i) + " of " + name + " " + conflict +
                                " by " + who(with) +
                                " with no barrier between");
    auto join = [&](int32_t &field) {
      field = field == ByteAccess::none || field == self ? self
                                                         : ByteAccess::several;
    };
    if (kind == Access::Write)
      b.writer = self;
    else if (kind == Access::Read)
      join(b.reader);
    else if (kind == Access::Atomic)
      join(b.atomic);
  }
  return success();
}

LogicalResult OpRunner::barrier() {
  if (!mask.all()) {
    unsigned missing = mask.find_first_unset();
    return fail("divergent barrier: " + Twine(mask.count()) + " of " +
                Twine(frame.lanes) + " threads reach it, " +
                threadName(missing) + " does not");
  }
  // Accesses before the barrier no longer conflict with those after it.
  ++frame.block.phase;
  return success();
}
