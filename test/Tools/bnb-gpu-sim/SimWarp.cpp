//===- SimWarp.cpp - warp collectives of bnb-gpu-sim ----------------------===//

#include "SimInternal.h"


#include <cstring>

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

LogicalResult OpRunner::warpActive() {
  for (unsigned w = 0; w < frame.lanes; w += 32) {
    unsigned n = 0;
    for (unsigned l = w; l < std::min(w + 32, frame.lanes); ++l)
      n += active(l);
    if (n != 0 && n != std::min(32u, frame.lanes - w))
      return fail("warp-collective operation in a divergent warp");
  }
  return success();
}

LogicalResult OpRunner::shuffle(gpu::ShuffleOp s) {
  if (failed(warpActive()))
    return failure();
  LaneValues &v = get(s.getValue()), &off = get(s.getOffset());
  LaneValues &r = result(0), &valid = result(1);
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    int64_t lane = l % 32, base = l - lane;
    int64_t o = static_cast<int32_t>(off.at(l));
    int64_t src = lane;
    switch (s.getMode()) {
    case gpu::ShuffleMode::XOR: src = lane ^ o; break;
    case gpu::ShuffleMode::DOWN: src = lane + o; break;
    case gpu::ShuffleMode::UP: src = lane - o; break;
    case gpu::ShuffleMode::IDX: src = o & 31; break;
    }
    bool ok = src >= 0 && src < 32;
    r.at(l) = ok ? v.at(base + src) : v.at(l);
    valid.at(l) = ok;
  }
  return success();
}

LogicalResult OpRunner::ldmatrix(nvgpu::LdMatrixOp ld) {
  if (ld.getTranspose())
    return fail("transposed ldmatrix");
  if (failed(warpActive()))
    return failure();
  int64_t tiles = ld.getNumTiles();
  LaneValues &m = get(ld.getSrcMemref());
  LaneValues &r = result();
  unsigned perRow = r.width / tiles;
  unsigned eltBytes = 4 / perRow;
  for (unsigned w = 0; w < frame.lanes; w += 32) {
    if (!active(w))
      continue;
    SmallVector<uint8_t *> rows(32);
    // Each lane supplies the address of one 16-byte row.
    for (unsigned l = 0; l < 32; ++l) {
      const Descriptor &d = sim.descriptors[m.at(w + l)];
      FailureOr<uint8_t *> p =
          pointer(w + l, m.at(w + l), indicesOf(ld.getIndices(), w + l),
                  16 / d.elementBytes, Access::Read, false, 16);
      if (failed(p))
        return failure();
      rows[l] = *p;
    }
    for (unsigned t = 0; t < 32; ++t)
      for (int64_t i = 0; i < tiles; ++i) {
        const uint8_t *row = rows[8 * i + t / 4] + 4 * (t % 4);
        for (unsigned e = 0; e < perRow; ++e) {
          uint64_t v = 0;
          std::memcpy(&v, row + e * eltBytes, eltBytes);
          r.at(w + t, i * perRow + e) = v;
        }
      }
  }
  return success();
}
