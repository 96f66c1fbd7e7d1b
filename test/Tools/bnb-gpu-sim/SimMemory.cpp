//===- SimMemory.cpp - memory of bnb-gpu-sim ------------------------------===//

#include "SimInternal.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SmallBitVector.h"

#include <cstring>

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

unsigned Simulator::newBuffer(size_t bytes, uint8_t fill, std::string name) {
  Buffer b;
  b.bytes.assign(bytes, fill);
  b.name = std::move(name);
  buffers.push_back(std::move(b));
  return buffers.size() - 1;
}

unsigned Simulator::newDescriptor(Descriptor d) {
  descriptors.push_back(std::move(d));
  return descriptors.size() - 1;
}

Descriptor bnb::sim::contiguousDescriptor(unsigned buffer,
                                          ArrayRef<int64_t> sizes,
                                          unsigned eltBytes) {
  Descriptor d;
  d.buffer = buffer;
  d.sizes.assign(sizes.begin(), sizes.end());
  d.strides.resize(sizes.size());
  int64_t stride = 1;
  for (int64_t i = sizes.size() - 1; i >= 0; --i) {
    d.strides[i] = stride;
    stride *= sizes[i];
  }
  d.elementBytes = eltBytes;
  return d;
}

FailureOr<unsigned> Simulator::globalDescriptor(Operation *from,
                                                StringRef name) {
  Operation *table = SymbolTable::getNearestSymbolTable(from);
  auto global = dyn_cast_or_null<memref::GlobalOp>(
      SymbolTable::lookupSymbolIn(table, name));
  if (!global)
    return from->emitError("bnb-gpu-sim: unknown global @") << name;
  auto it = globals.find(global);
  if (it != globals.end())
    return it->second;
  MemRefType type = global.getType();
  unsigned eltBytes = elementBytes(type.getElementType());
  unsigned buf = newBuffer(type.getNumElements() * eltBytes, 0,
                           ("global @" + name).str());
  if (auto init = dyn_cast_or_null<DenseElementsAttr>(
          global.getInitialValueAttr())) {
    int64_t i = 0;
    auto write = [&](uint64_t bits) {
      std::memcpy(buffers[buf].bytes.data() + i * eltBytes, &bits, eltBytes);
      ++i;
    };
    if (isa<FloatType>(type.getElementType()))
      for (APFloat v : init.getValues<APFloat>())
        write(fromFloat(v));
    else
      for (APInt v : init.getValues<APInt>())
        write(v.getZExtValue());
    if (init.isSplat())
      for (; i < type.getNumElements();)
        write(fromFloat(*init.getValues<APFloat>().begin()));
  }
  unsigned d = newDescriptor(
      contiguousDescriptor(buf, type.getShape(), eltBytes));
  globals[global] = d;
  return d;
}

SmallVector<int64_t> OpRunner::indicesOf(ValueRange indices, unsigned lane) {
  SmallVector<int64_t> out;
  for (Value v : indices)
    out.push_back(static_cast<int64_t>(get(v).at(lane)));
  return out;
}

FailureOr<int64_t> OpRunner::address(unsigned lane, const Descriptor &d,
                                     ArrayRef<int64_t> indices, int64_t count,
                                     bool checkDims) {
  const Buffer &buf = sim.buffers[d.buffer];
  int64_t a = d.offset;
  for (auto [i, idx] : llvm::enumerate(indices)) {
    if (checkDims && (idx < 0 || idx >= d.sizes[i]))
      return failLane(lane, "index " + Twine(idx) +
                                " out of bounds for dimension " + Twine(i) +
                                " of size " + Twine(d.sizes[i]) + " of " +
                                buf.name);
    a += idx * d.strides[i];
  }
  if (buf.freed)
    return failLane(lane, "access to freed " + buf.name);
  if (a < 0 || (a + count) * static_cast<int64_t>(d.elementBytes) >
                   static_cast<int64_t>(buf.bytes.size()))
    return failLane(lane, "access to bytes [" +
                              Twine(a * static_cast<int64_t>(d.elementBytes)) +
                              ", " +
                              Twine((a + count) *
                                    static_cast<int64_t>(d.elementBytes)) +
                              ") outside " + buf.name + " of " +
                              Twine(buf.bytes.size()) + " bytes");
  return a;
}

FailureOr<uint8_t *> OpRunner::pointer(unsigned lane, unsigned desc,
                                       ArrayRef<int64_t> indices,
                                       int64_t count, Access kind,
                                       bool checkDims, uint64_t align) {
  const Descriptor &d = sim.descriptors[desc];
  FailureOr<int64_t> a = address(lane, d, indices, count, checkDims);
  if (failed(a))
    return failure();
  int64_t offset = *a * d.elementBytes;
  if (failed(checkAligned(lane, d.buffer, offset, align)))
    return failure();
  if (kind != Access::None && sim.buffers[d.buffer].workgroup &&
      failed(track(lane, d.buffer, offset, count * d.elementBytes, kind)))
    return failure();
  return sim.buffers[d.buffer].bytes.data() + offset;
}

LogicalResult OpRunner::checkAligned(unsigned lane, unsigned buffer,
                                     int64_t offset, uint64_t align) {
  // Buffers start 16-byte aligned in the simulator (as cudaMalloc's and
  // workgroup memory are), so the offset decides.
  if (align > 1 && offset % static_cast<int64_t>(align) != 0)
    return failLane(lane, "misaligned access: byte " + Twine(offset) +
                              " of " + sim.buffers[buffer].name +
                              " is not a multiple of " + Twine(align));
  return success();
}

LogicalResult OpRunner::load(Value memref, ValueRange indices, bool isVector,
                             std::optional<uint64_t> alignment) {
  LaneValues &m = get(memref);
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    unsigned desc = m.at(l);
    unsigned bytes = sim.descriptors[desc].elementBytes;
    FailureOr<uint8_t *> p = pointer(l, desc, indicesOf(indices, l), r.width,
                                     Access::Read, !isVector,
                                     alignment.value_or(1));
    if (failed(p))
      return failure();
    for (unsigned i = 0; i < r.width; ++i) {
      uint64_t v = 0;
      std::memcpy(&v, *p + i * bytes, bytes);
      r.at(l, i) = v;
    }
  }
  return success();
}

LogicalResult OpRunner::store(Value value, Value memref, ValueRange indices,
                              std::optional<uint64_t> alignment) {
  LaneValues &m = get(memref), &v = get(value);
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    unsigned desc = m.at(l);
    unsigned bytes = sim.descriptors[desc].elementBytes;
    FailureOr<uint8_t *> p =
        pointer(l, desc, indicesOf(indices, l), v.width, Access::Write,
                v.width == 1 && !isa<vector::StoreOp>(op),
                alignment.value_or(1));
    if (failed(p))
      return failure();
    for (unsigned i = 0; i < v.width; ++i) {
      uint64_t x = v.at(l, i);
      std::memcpy(*p + i * bytes, &x, bytes);
    }
  }
  return success();
}

LogicalResult OpRunner::atomic(memref::AtomicRMWOp a) {
  LaneValues &m = get(a.getMemref()), &v = get(a.getValue());
  LaneValues &r = result();
  Type t = a.getValue().getType();
  unsigned w = bitWidthOf(t);
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    FailureOr<uint8_t *> p =
        pointer(l, m.at(l), indicesOf(a.getIndices(), l), 1, Access::Atomic);
    if (failed(p))
      return failure();
    uint64_t old = 0;
    std::memcpy(&old, *p, elementBytes(t));
    uint64_t x = v.at(l), n;
    switch (a.getKind()) {
    case arith::AtomicRMWKind::ori: n = old | x; break;
    case arith::AtomicRMWKind::andi: n = old & x; break;
    case arith::AtomicRMWKind::addi: n = old + x; break;
    case arith::AtomicRMWKind::maxu: n = std::max(truncBits(old, w), truncBits(x, w)); break;
    case arith::AtomicRMWKind::addf: {
      APFloat f = toFloat(t, old);
      f.add(toFloat(t, x), APFloat::rmNearestTiesToEven);
      n = fromFloat(f);
      break;
    }
    default:
      return fail("unsupported atomic kind");
    }
    n = truncBits(n, w);
    std::memcpy(*p, &n, elementBytes(t));
    r.at(l) = old;
  }
  return success();
}

LogicalResult OpRunner::view() {
  Value src = op->getOperand(0);
  auto type = cast<MemRefType>(op->getResult(0).getType());
  LaneValues &s = get(src);
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    Descriptor d = sim.descriptors[s.at(l)];
    Descriptor n;
    n.buffer = d.buffer;
    n.elementBytes = d.elementBytes;
    n.offset = d.offset;
    if (isa<memref::CastOp>(op)) {
      n = d;
    } else if (auto c = dyn_cast<memref::CollapseShapeOp>(op)) {
      for (const ReassociationIndices &group : c.getReassociationIndices()) {
        int64_t size = 1;
        for (int64_t i : group)
          size *= d.sizes[i];
        n.sizes.push_back(size);
        n.strides.push_back(group.empty() ? 1 : d.strides[group.back()]);
      }
    } else if (auto e = dyn_cast<memref::ExpandShapeOp>(op)) {
      // Dynamic output sizes come from the operands.
      SmallVector<int64_t> shape(type.getShape());
      unsigned dyn = 0;
      for (int64_t &s : shape)
        if (ShapedType::isDynamic(s))
          s = static_cast<int64_t>(get(e.getOutputShape()[dyn++]).at(l));
      for (auto [gi, group] : llvm::enumerate(e.getReassociationIndices())) {
        int64_t stride = d.strides[gi];
        SmallVector<int64_t> strides(group.size());
        for (int64_t k = group.size() - 1; k >= 0; --k) {
          strides[k] = stride;
          stride *= shape[group[k]];
        }
        for (auto [k, i] : llvm::enumerate(group)) {
          n.sizes.push_back(shape[i]);
          n.strides.push_back(strides[k]);
        }
      }
    } else if (auto sv = dyn_cast<memref::SubViewOp>(op)) {
      SmallVector<int64_t> offsets, sizes, strides;
      unsigned dynO = 0, dynS = 0, dynT = 0;
      for (int64_t o : sv.getStaticOffsets())
        offsets.push_back(ShapedType::isDynamic(o)
                              ? get(sv.getOffsets()[dynO++]).at(l)
                              : o);
      for (int64_t s : sv.getStaticSizes())
        sizes.push_back(ShapedType::isDynamic(s) ? get(sv.getSizes()[dynS++]).at(l)
                                                 : s);
      for (int64_t s : sv.getStaticStrides())
        strides.push_back(ShapedType::isDynamic(s)
                              ? get(sv.getStrides()[dynT++]).at(l)
                              : s);
      for (unsigned i = 0; i < offsets.size(); ++i)
        n.offset += offsets[i] * d.strides[i];
      llvm::SmallBitVector dropped = sv.getDroppedDims();
      for (unsigned i = 0; i < sizes.size(); ++i) {
        if (dropped.test(i))
          continue;
        n.sizes.push_back(sizes[i]);
        n.strides.push_back(strides[i] * d.strides[i]);
      }
    } else if (auto rc = dyn_cast<memref::ReinterpretCastOp>(op)) {
      SmallVector<OpFoldResult> offs = rc.getMixedOffsets(),
                                sizes = rc.getMixedSizes(),
                                strides = rc.getMixedStrides();
      auto valueOf = [&](OpFoldResult f) -> int64_t {
        if (auto a = dyn_cast<Attribute>(f))
          return cast<IntegerAttr>(a).getInt();
        return static_cast<int64_t>(get(cast<Value>(f)).at(l));
      };
      n.offset = valueOf(offs[0]);
      for (auto [s, t] : llvm::zip(sizes, strides)) {
        n.sizes.push_back(valueOf(s));
        n.strides.push_back(valueOf(t));
      }
    } else {
      return fail("unsupported view");
    }
    r.at(l) = sim.newDescriptor(n);
  }
  return success();
}

LogicalResult OpRunner::copy(Value src, Value dst) {
  LaneValues &s = get(src), &d = get(dst);
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    const Descriptor sd = sim.descriptors[s.at(l)];
    const Descriptor dd = sim.descriptors[d.at(l)];
    if (sd.sizes != dd.sizes)
      return fail("copy between different shapes");
    int64_t n = 1;
    for (int64_t x : sd.sizes)
      n *= x;
    SmallVector<int64_t> idx(sd.sizes.size(), 0);
    for (int64_t e = 0; e < n; ++e) {
      FailureOr<uint8_t *> ps = pointer(l, s.at(l), idx, 1, Access::Read);
      if (failed(ps))
        return failure();
      FailureOr<uint8_t *> pd = pointer(l, d.at(l), idx, 1, Access::Write);
      if (failed(pd))
        return failure();
      std::memcpy(*pd, *ps, sd.elementBytes);
      for (int64_t i = idx.size() - 1; i >= 0; --i) {
        if (++idx[i] < sd.sizes[i])
          break;
        idx[i] = 0;
      }
    }
  }
  return success();
}


FailureOr<NpyArray> Simulator::readDescriptor(unsigned desc, Type type) {
  auto m = dyn_cast<MemRefType>(type);
  if (!m)
    return lastEntry->emitError("bnb-gpu-sim: only memrefs are returned");
  const Descriptor &d = descriptors[desc];
  NpyArray out;
  out.dtype = dtypeOf(m.getElementType());
  out.shape.assign(d.sizes.begin(), d.sizes.end());
  int64_t n = 1;
  for (int64_t s : d.sizes)
    n *= s;
  out.data.resize(n * d.elementBytes);
  SmallVector<int64_t> idx(d.sizes.size(), 0);
  const Buffer &buf = buffers[d.buffer];
  if (buf.freed)
    return lastEntry->emitError("bnb-gpu-sim: a result was freed");
  for (int64_t e = 0; e < n; ++e) {
    int64_t a = d.offset;
    for (auto [i, x] : llvm::enumerate(idx))
      a += x * d.strides[i];
    std::memcpy(out.data.data() + e * d.elementBytes,
                buf.bytes.data() + a * d.elementBytes, d.elementBytes);
    for (int64_t i = idx.size() - 1; i >= 0; --i) {
      if (++idx[i] < d.sizes[i])
        break;
      idx[i] = 0;
    }
  }
  return out;
}
