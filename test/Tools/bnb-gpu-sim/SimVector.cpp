//===- SimVector.cpp - vector operations of bnb-gpu-sim -------------------===//

#include "SimInternal.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cstring>

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

LogicalResult OpRunner::vectorOp() {
  if (auto b = dyn_cast<vector::BitCastOp>(op)) {
    unsigned fw = bitWidthOf(b.getSourceVectorType().getElementType());
    unsigned tw = bitWidthOf(b.getResultVectorType().getElementType());
    LaneValues &s = get(b.getSource());
    LaneValues &r = result();
    for (unsigned l = 0; l < frame.lanes; ++l) {
      if (!active(l))
        continue;
      std::vector<uint8_t> bytes(s.width * fw / 8);
      for (unsigned i = 0; i < s.width; ++i) {
        uint64_t v = s.at(l, i);
        std::memcpy(bytes.data() + i * fw / 8, &v, fw / 8);
      }
      for (unsigned i = 0; i < r.width; ++i) {
        uint64_t v = 0;
        std::memcpy(&v, bytes.data() + i * tw / 8, tw / 8);
        r.at(l, i) = v;
      }
    }
    return success();
  }
  if (auto e = dyn_cast<vector::ExtractOp>(op)) {
    if (!e.getDynamicPosition().empty())
      return fail("dynamic vector.extract");
    auto type = e.getSourceVectorType();
    int64_t flat = 0, stride = type.getNumElements();
    for (auto [i, p] : llvm::enumerate(e.getStaticPosition())) {
      stride /= type.getDimSize(i);
      flat += p * stride;
    }
    LaneValues &s = get(e.getSource());
    LaneValues &r = result();
    for (unsigned l = 0; l < frame.lanes; ++l)
      if (active(l))
        for (unsigned i = 0; i < r.width; ++i)
          r.at(l, i) = s.at(l, flat + i);
    return success();
  }
  if (auto ins = dyn_cast<vector::InsertOp>(op)) {
    if (!ins.getDynamicPosition().empty())
      return fail("dynamic vector.insert");
    auto type = ins.getDestVectorType();
    int64_t flat = 0, stride = type.getNumElements();
    for (auto [i, p] : llvm::enumerate(ins.getStaticPosition())) {
      stride /= type.getDimSize(i);
      flat += p * stride;
    }
    LaneValues &v = get(ins.getValueToStore()), &d = get(ins.getDest());
    LaneValues &r = result();
    for (unsigned l = 0; l < frame.lanes; ++l) {
      if (!active(l))
        continue;
      for (unsigned i = 0; i < r.width; ++i)
        r.at(l, i) = d.at(l, i);
      for (unsigned i = 0; i < v.width; ++i)
        r.at(l, flat + i) = v.at(l, i);
    }
    return success();
  }
  if (auto bc = dyn_cast<vector::BroadcastOp>(op)) {
    LaneValues &s = get(bc.getSource());
    LaneValues &r = result();
    for (unsigned l = 0; l < frame.lanes; ++l)
      if (active(l))
        for (unsigned i = 0; i < r.width; ++i)
          r.at(l, i) = s.at(l, i % s.width);
    return success();
  }
  if (auto fe = dyn_cast<vector::FromElementsOp>(op)) {
    LaneValues &r = result();
    for (unsigned l = 0; l < frame.lanes; ++l)
      if (active(l))
        for (unsigned i = 0; i < r.width; ++i)
          r.at(l, i) = get(fe.getElements()[i]).at(l);
    return success();
  }
  if (auto te = dyn_cast<vector::ToElementsOp>(op)) {
    LaneValues &s = get(te.getSource());
    for (unsigned i = 0; i < op->getNumResults(); ++i) {
      LaneValues &r = result(i);
      for (unsigned l = 0; l < frame.lanes; ++l)
        if (active(l))
          r.at(l) = s.at(l, i);
    }
    return success();
  }
  if (auto sc = dyn_cast<vector::ShapeCastOp>(op)) {
    LaneValues &s = get(sc.getSource());
    result() = s;
    return success();
  }
  return fail("unsupported vector op");
}
