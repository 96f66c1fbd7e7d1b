//===- SimMma.cpp - tensor-core products of bnb-gpu-sim -------------------===//

#include "SimInternal.h"


using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

/// D = A * B + C for one m16n8kK mma.sync of every active warp. `a`, `b`,
/// `c` hold the per-lane fragment values (element words in register order).
LogicalResult OpRunner::mma(Operation *mmaOp, Type eltType, int64_t k,
                            ArrayRef<Value> a, ArrayRef<Value> b,
                            ArrayRef<Value> c) {
  if (failed(warpActive()))
    return failure();
  // Flatten the per-lane element lists.
  auto gather = [&](ArrayRef<Value> vals, unsigned lane) {
    SmallVector<uint64_t> out;
    for (Value v : vals) {
      LaneValues &lv = get(v);
      Type t = v.getType();
      // nvvm.mma.sync passes packed i32 registers.
      unsigned per = t.isInteger(32) && eltType.getIntOrFloatBitWidth() < 32
                         ? 32 / eltType.getIntOrFloatBitWidth()
                         : 1;
      for (unsigned i = 0; i < lv.width; ++i) {
        uint64_t word = lv.at(lane, i);
        if (per == 1) {
          out.push_back(word);
          continue;
        }
        unsigned bits = 32 / per;
        for (unsigned p = 0; p < per; ++p)
          out.push_back(truncBits(word >> (p * bits), bits));
      }
    }
    return out;
  };
  bool isInt = isa<IntegerType>(eltType);
  Type accType = isInt ? Type(IntegerType::get(op->getContext(), 32))
                       : Type(Float32Type::get(op->getContext()));
  LaneValues *out = &result();
  unsigned perReg = isInt ? 4 : 2;
  for (unsigned w = 0; w < frame.lanes; w += 32) {
    if (!active(w))
      continue;
    double A[16][32] = {}, B[32][8] = {}, C[16][8] = {};
    for (unsigned lane = 0; lane < 32; ++lane) {
      unsigned g = lane / 4, t = lane % 4;
      SmallVector<uint64_t> av = gather(a, w + lane), bv = gather(b, w + lane),
                            cv = gather(c, w + lane);
      auto value = [&](uint64_t bits) {
        return isInt ? static_cast<double>(signExtend(bits, 8))
                     : toDouble(eltType, bits);
      };
      for (unsigned reg = 0; reg < 4; ++reg)
        for (unsigned j = 0; j < perReg; ++j) {
          unsigned row = g + 8 * (reg % 2);
          unsigned col = perReg * t + j + (k / 2) * (reg / 2);
          A[row][col] = value(av[reg * perReg + j]);
        }
      for (unsigned reg = 0; reg < 2; ++reg)
        for (unsigned j = 0; j < perReg; ++j)
          B[perReg * t + j + (k / 2) * reg][g] = value(bv[reg * perReg + j]);
      for (unsigned e = 0; e < 4; ++e)
        C[g + 8 * (e / 2)][2 * t + e % 2] =
            isInt ? static_cast<double>(signExtend(cv[e], 32))
                  : toDouble(accType, cv[e]);
    }
    for (unsigned lane = 0; lane < 32; ++lane) {
      unsigned g = lane / 4, t = lane % 4;
      for (unsigned e = 0; e < 4; ++e) {
        unsigned row = g + 8 * (e / 2), col = 2 * t + e % 2;
        double d = C[row][col];
        for (int64_t kk = 0; kk < k; ++kk)
          d += A[row][kk] * B[kk][col];
        out->at(w + lane, e) =
            isInt ? truncBits(static_cast<uint64_t>(static_cast<int64_t>(d)), 32)
                  : fromDouble(accType, d);
      }
    }
  }
  return success();
}
