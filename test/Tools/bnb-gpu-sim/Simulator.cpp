//===- Simulator.cpp - a SIMT interpreter for GPU-dialect programs --------===//

#include "Simulator.h"

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
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace bnb::sim;
using llvm::APFloat;
using llvm::APInt;

//===----------------------------------------------------------------------===//
// Type helpers
//===----------------------------------------------------------------------===//

namespace {

unsigned bitWidthOf(Type t) {
  if (t.isIndex())
    return 64;
  return t.getIntOrFloatBitWidth();
}

Type elementTypeOf(Type t) {
  if (auto v = dyn_cast<VectorType>(t))
    return v.getElementType();
  return t;
}

unsigned widthOf(Type t) {
  if (auto v = dyn_cast<VectorType>(t))
    return v.getNumElements();
  if (auto s = dyn_cast<LLVM::LLVMStructType>(t))
    return s.getBody().size();
  return 1;
}

uint64_t truncBits(uint64_t v, unsigned w) {
  return w >= 64 ? v : v & ((uint64_t(1) << w) - 1);
}

int64_t signExtend(uint64_t v, unsigned w) {
  if (w >= 64)
    return static_cast<int64_t>(v);
  uint64_t m = uint64_t(1) << (w - 1);
  v = truncBits(v, w);
  return static_cast<int64_t>((v ^ m) - m);
}

APFloat toFloat(Type t, uint64_t bits) {
  return APFloat(cast<FloatType>(t).getFloatSemantics(),
                 APInt(bitWidthOf(t), bits));
}

uint64_t fromFloat(const APFloat &f) {
  return f.bitcastToAPInt().getZExtValue();
}

APFloat convertFloat(APFloat v, Type to) {
  bool lost;
  v.convert(cast<FloatType>(to).getFloatSemantics(),
            APFloat::rmNearestTiesToEven, &lost);
  return v;
}

double toDouble(Type t, uint64_t bits) {
  return convertFloat(toFloat(t, bits), Float64Type::get(t.getContext()))
      .convertToDouble();
}

uint64_t fromDouble(Type t, double v) {
  return fromFloat(convertFloat(APFloat(v), t));
}

unsigned elementBytes(Type t) { return (bitWidthOf(t) + 7) / 8; }

std::string dtypeOf(Type t) {
  if (t.isF16())
    return "<f2";
  if (t.isBF16())
    return "<u2";
  if (t.isF32())
    return "<f4";
  if (t.isF64())
    return "<f8";
  if (t.isInteger(1))
    return "|b1";
  if (auto i = dyn_cast<IntegerType>(t)) {
    std::string kind = i.isUnsigned() ? "u" : "i";
    unsigned bytes = elementBytes(t);
    return (bytes == 1 ? "|" : "<") + kind + std::to_string(bytes);
  }
  if (t.isIndex())
    return "<i8";
  return "";
}

} // namespace

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

unsigned Simulator::newBuffer(size_t bytes, uint8_t fill) {
  Buffer b;
  b.bytes.assign(bytes, fill);
  buffers.push_back(std::move(b));
  return buffers.size() - 1;
}

unsigned Simulator::newDescriptor(Descriptor d) {
  descriptors.push_back(std::move(d));
  return descriptors.size() - 1;
}

static Descriptor contiguousDescriptor(unsigned buffer, ArrayRef<int64_t> sizes,
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
  unsigned buf = newBuffer(type.getNumElements() * eltBytes, 0);
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

//===----------------------------------------------------------------------===//
// Operation semantics
//===----------------------------------------------------------------------===//

namespace bnb::sim {

/// Runs one operation for the active lanes of a frame.
class OpRunner {
public:
  OpRunner(Simulator &sim, Frame &frame, const Mask &mask, Operation *op)
      : sim(sim), frame(frame), mask(mask), op(op) {}

  LogicalResult run();

private:
  LaneValues &get(Value v) {
    auto it = frame.values.find(v);
    if (it == frame.values.end())
      llvm::report_fatal_error("bnb-gpu-sim: use of an unevaluated value");
    return it->second;
  }
  LaneValues &result(unsigned i = 0) {
    Value r = op->getResult(i);
    LaneValues &lv = frame.values[r];
    lv = LaneValues(frame.lanes, widthOf(r.getType()));
    return lv;
  }
  bool active(unsigned lane) const { return mask.test(lane); }
  LogicalResult fail(const Twine &msg) {
    return op->emitError("bnb-gpu-sim: ") << msg;
  }

  LogicalResult constant(arith::ConstantOp c);
  LogicalResult intBinary();
  LogicalResult floatBinary();
  LogicalResult floatUnary();
  LogicalResult conversion();
  LogicalResult cmp();
  LogicalResult select(arith::SelectOp s);
  LogicalResult fma();

  /// The linear element address of `indices` in descriptor `d`, checked
  /// against the buffer.
  FailureOr<int64_t> address(const Descriptor &d, ArrayRef<int64_t> indices,
                             int64_t count, bool checkDims);
  FailureOr<uint8_t *> pointer(unsigned desc, ArrayRef<int64_t> indices,
                               int64_t count, bool checkDims = true);
  SmallVector<int64_t> indicesOf(ValueRange indices, unsigned lane);
  LogicalResult load(Value memref, ValueRange indices, bool isVector,
                     std::optional<uint64_t> alignment);
  LogicalResult store(Value value, Value memref, ValueRange indices,
                      std::optional<uint64_t> alignment);
  LogicalResult atomic(memref::AtomicRMWOp a);
  LogicalResult view();
  LogicalResult copy(Value src, Value dst);

  LogicalResult vectorOp();
  LogicalResult shuffle(gpu::ShuffleOp s);
  LogicalResult ldmatrix(nvgpu::LdMatrixOp l);
  LogicalResult mma(Operation *mmaOp, Type eltType, int64_t k,
                    ArrayRef<Value> a, ArrayRef<Value> b, ArrayRef<Value> c);
  LogicalResult asyncCopy(nvgpu::DeviceAsyncCopyOp c);
  LogicalResult warpActive();

  Simulator &sim;
  Frame &frame;
  const Mask &mask;
  Operation *op;
};

} // namespace bnb::sim

LogicalResult OpRunner::constant(arith::ConstantOp c) {
  LaneValues &r = result();
  Attribute attr = c.getValue();
  SmallVector<uint64_t> words;
  if (auto i = dyn_cast<IntegerAttr>(attr))
    words.push_back(i.getValue().getZExtValue());
  else if (auto f = dyn_cast<FloatAttr>(attr))
    words.push_back(fromFloat(f.getValue()));
  else if (auto d = dyn_cast<DenseElementsAttr>(attr)) {
    int64_t n = cast<ShapedType>(d.getType()).getNumElements();
    if (isa<FloatType>(d.getElementType()))
      for (APFloat v : d.getValues<APFloat>())
        words.push_back(fromFloat(v));
    else
      for (APInt v : d.getValues<APInt>())
        words.push_back(v.getZExtValue());
    words.resize(n, words.empty() ? 0 : words.back());
  } else {
    return fail("unsupported constant");
  }
  for (unsigned l = 0; l < frame.lanes; ++l)
    for (unsigned i = 0; i < r.width; ++i)
      r.at(l, i) = words[i];
  return success();
}

LogicalResult OpRunner::intBinary() {
  Type t = elementTypeOf(op->getResult(0).getType());
  unsigned w = bitWidthOf(t);
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      uint64_t x = truncBits(a.at(l, i), w), y = truncBits(b.at(l, i), w);
      int64_t sx = signExtend(x, w), sy = signExtend(y, w);
      uint64_t v;
      auto needNonZero = [&]() -> LogicalResult {
        if (y == 0)
          return fail("integer division by zero");
        return success();
      };
      if (isa<arith::AddIOp>(op))
        v = x + y;
      else if (isa<arith::SubIOp>(op))
        v = x - y;
      else if (isa<arith::MulIOp>(op))
        v = x * y;
      else if (isa<arith::AndIOp>(op))
        v = x & y;
      else if (isa<arith::OrIOp>(op))
        v = x | y;
      else if (isa<arith::XOrIOp>(op))
        v = x ^ y;
      else if (isa<arith::ShLIOp>(op))
        v = y >= w ? 0 : x << y;
      else if (isa<arith::ShRUIOp>(op))
        v = y >= w ? 0 : x >> y;
      else if (isa<arith::ShRSIOp>(op))
        v = static_cast<uint64_t>(y >= w ? (sx < 0 ? -1 : 0) : sx >> y);
      else if (isa<arith::MinUIOp>(op))
        v = std::min(x, y);
      else if (isa<arith::MaxUIOp>(op))
        v = std::max(x, y);
      else if (isa<arith::MinSIOp>(op))
        v = static_cast<uint64_t>(std::min(sx, sy));
      else if (isa<arith::MaxSIOp>(op))
        v = static_cast<uint64_t>(std::max(sx, sy));
      else {
        if (failed(needNonZero()))
          return failure();
        if (isa<arith::DivUIOp>(op))
          v = x / y;
        else if (isa<arith::RemUIOp>(op))
          v = x % y;
        else if (isa<arith::CeilDivUIOp>(op))
          v = x / y + (x % y != 0);
        else if (isa<arith::DivSIOp>(op))
          v = static_cast<uint64_t>(sx / sy);
        else if (isa<arith::RemSIOp>(op))
          v = static_cast<uint64_t>(sx % sy);
        else if (isa<arith::FloorDivSIOp>(op))
          v = static_cast<uint64_t>(sx / sy - ((sx % sy != 0) && ((sx < 0) != (sy < 0))));
        else if (isa<arith::CeilDivSIOp>(op))
          v = static_cast<uint64_t>(sx / sy + ((sx % sy != 0) && ((sx < 0) == (sy < 0))));
        else
          return fail("unsupported integer op");
      }
      r.at(l, i) = truncBits(v, w);
    }
  }
  return success();
}

LogicalResult OpRunner::floatBinary() {
  Type t = elementTypeOf(op->getResult(0).getType());
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      APFloat x = toFloat(t, a.at(l, i)), y = toFloat(t, b.at(l, i));
      auto rm = APFloat::rmNearestTiesToEven;
      if (isa<arith::AddFOp>(op))
        x.add(y, rm);
      else if (isa<arith::SubFOp>(op))
        x.subtract(y, rm);
      else if (isa<arith::MulFOp>(op))
        x.multiply(y, rm);
      else if (isa<arith::DivFOp>(op))
        x.divide(y, rm);
      else if (isa<arith::MaxNumFOp>(op))
        x = llvm::maxnum(x, y);
      else if (isa<arith::MinNumFOp>(op))
        x = llvm::minnum(x, y);
      else if (isa<arith::MaximumFOp>(op))
        x = llvm::maximum(x, y);
      else if (isa<arith::MinimumFOp>(op))
        x = llvm::minimum(x, y);
      else if (isa<arith::RemFOp>(op))
        x.mod(y);
      else if (isa<math::PowFOp>(op))
        x = convertFloat(APFloat(std::pow(x.convertToDouble(), y.convertToDouble())), t);
      else if (isa<math::CopySignOp>(op))
        x.copySign(y);
      else
        return fail("unsupported float op");
      r.at(l, i) = fromFloat(x);
    }
  }
  return success();
}

LogicalResult OpRunner::fma() {
  Type t = elementTypeOf(op->getResult(0).getType());
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1)),
             &c = get(op->getOperand(2));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      APFloat x = toFloat(t, a.at(l, i));
      x.fusedMultiplyAdd(toFloat(t, b.at(l, i)), toFloat(t, c.at(l, i)),
                         APFloat::rmNearestTiesToEven);
      r.at(l, i) = fromFloat(x);
    }
  }
  return success();
}

LogicalResult OpRunner::floatUnary() {
  Type t = elementTypeOf(op->getResult(0).getType());
  LaneValues &a = get(op->getOperand(0));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      APFloat x = toFloat(t, a.at(l, i));
      double d = toDouble(t, a.at(l, i));
      if (isa<math::AbsFOp>(op))
        x.clearSign();
      else if (isa<arith::NegFOp>(op))
        x.changeSign();
      else if (isa<math::RoundEvenOp>(op))
        x.roundToIntegral(APFloat::rmNearestTiesToEven);
      else if (isa<math::FloorOp>(op))
        x.roundToIntegral(APFloat::rmTowardNegative);
      else if (isa<math::CeilOp>(op))
        x.roundToIntegral(APFloat::rmTowardPositive);
      else if (isa<math::SqrtOp>(op))
        x = convertFloat(APFloat(std::sqrt(d)), t);
      else if (isa<math::RsqrtOp>(op))
        x = convertFloat(APFloat(1.0 / std::sqrt(d)), t);
      else if (isa<math::ExpOp>(op))
        x = convertFloat(APFloat(std::exp(d)), t);
      else if (isa<math::Exp2Op>(op))
        x = convertFloat(APFloat(std::exp2(d)), t);
      else if (isa<math::LogOp>(op))
        x = convertFloat(APFloat(std::log(d)), t);
      else if (isa<math::TanhOp>(op))
        x = convertFloat(APFloat(std::tanh(d)), t);
      else if (isa<math::ErfOp>(op))
        x = convertFloat(APFloat(std::erf(d)), t);
      else if (isa<math::SinOp>(op))
        x = convertFloat(APFloat(std::sin(d)), t);
      else if (isa<math::CosOp>(op))
        x = convertFloat(APFloat(std::cos(d)), t);
      else
        return fail("unsupported unary float op");
      r.at(l, i) = fromFloat(x);
    }
  }
  return success();
}

LogicalResult OpRunner::conversion() {
  Type from = elementTypeOf(op->getOperand(0).getType());
  Type to = elementTypeOf(op->getResult(0).getType());
  unsigned fw = bitWidthOf(from), tw = bitWidthOf(to);
  LaneValues &a = get(op->getOperand(0));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      uint64_t x = a.at(l, i), v;
      if (isa<arith::ExtUIOp, arith::IndexCastUIOp, arith::TruncIOp>(op))
        v = truncBits(truncBits(x, fw), tw);
      else if (isa<arith::ExtSIOp, arith::IndexCastOp>(op))
        v = truncBits(static_cast<uint64_t>(signExtend(x, fw)), tw);
      else if (isa<arith::ExtFOp, arith::TruncFOp>(op))
        v = fromFloat(convertFloat(toFloat(from, x), to));
      else if (isa<arith::SIToFPOp, arith::UIToFPOp>(op)) {
        APFloat f(cast<FloatType>(to).getFloatSemantics());
        bool isSigned = isa<arith::SIToFPOp>(op);
        APInt iv(fw, truncBits(x, fw));
        f.convertFromAPInt(iv, isSigned, APFloat::rmNearestTiesToEven);
        v = fromFloat(f);
      } else if (isa<arith::FPToSIOp, arith::FPToUIOp>(op)) {
        APFloat f = toFloat(from, x);
        if (f.isNaN() || f.isInfinity())
          return fail("float to int conversion of NaN or infinity is poison");
        llvm::APSInt iv(tw, isa<arith::FPToUIOp>(op));
        bool exact;
        f.convertToInteger(iv, APFloat::rmTowardZero, &exact);
        v = truncBits(iv.getZExtValue(), tw);
      } else if (isa<arith::BitcastOp>(op)) {
        v = x;
      } else {
        return fail("unsupported cast");
      }
      r.at(l, i) = v;
    }
  }
  return success();
}

LogicalResult OpRunner::cmp() {
  Type t = elementTypeOf(op->getOperand(0).getType());
  unsigned w = bitWidthOf(t);
  LaneValues &a = get(op->getOperand(0)), &b = get(op->getOperand(1));
  LaneValues &r = result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i) {
      bool v = false;
      if (auto c = dyn_cast<arith::CmpIOp>(op)) {
        uint64_t x = truncBits(a.at(l, i), w), y = truncBits(b.at(l, i), w);
        int64_t sx = signExtend(x, w), sy = signExtend(y, w);
        using P = arith::CmpIPredicate;
        switch (c.getPredicate()) {
        case P::eq: v = x == y; break;
        case P::ne: v = x != y; break;
        case P::ult: v = x < y; break;
        case P::ule: v = x <= y; break;
        case P::ugt: v = x > y; break;
        case P::uge: v = x >= y; break;
        case P::slt: v = sx < sy; break;
        case P::sle: v = sx <= sy; break;
        case P::sgt: v = sx > sy; break;
        case P::sge: v = sx >= sy; break;
        }
      } else {
        auto fc = cast<arith::CmpFOp>(op);
        APFloat x = toFloat(t, a.at(l, i)), y = toFloat(t, b.at(l, i));
        APFloat::cmpResult res = x.compare(y);
        bool unordered = res == APFloat::cmpUnordered;
        bool lt = res == APFloat::cmpLessThan, gt = res == APFloat::cmpGreaterThan,
             eq = res == APFloat::cmpEqual;
        using P = arith::CmpFPredicate;
        switch (fc.getPredicate()) {
        case P::AlwaysFalse: v = false; break;
        case P::OEQ: v = eq; break;
        case P::OGT: v = gt; break;
        case P::OGE: v = gt || eq; break;
        case P::OLT: v = lt; break;
        case P::OLE: v = lt || eq; break;
        case P::ONE: v = lt || gt; break;
        case P::ORD: v = !unordered; break;
        case P::UEQ: v = unordered || eq; break;
        case P::UGT: v = unordered || gt; break;
        case P::UGE: v = unordered || gt || eq; break;
        case P::ULT: v = unordered || lt; break;
        case P::ULE: v = unordered || lt || eq; break;
        case P::UNE: v = !eq; break;
        case P::UNO: v = unordered; break;
        case P::AlwaysTrue: v = true; break;
        }
      }
      r.at(l, i) = v;
    }
  }
  return success();
}

LogicalResult OpRunner::select(arith::SelectOp s) {
  LaneValues &c = get(s.getCondition()), &a = get(s.getTrueValue()),
             &b = get(s.getFalseValue());
  LaneValues &r = result();
  bool scalarCond = c.width == 1;
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    for (unsigned i = 0; i < r.width; ++i)
      r.at(l, i) = (scalarCond ? c.at(l) : c.at(l, i)) & 1 ? a.at(l, i)
                                                           : b.at(l, i);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Memory operations
//===----------------------------------------------------------------------===//

SmallVector<int64_t> OpRunner::indicesOf(ValueRange indices, unsigned lane) {
  SmallVector<int64_t> out;
  for (Value v : indices)
    out.push_back(static_cast<int64_t>(get(v).at(lane)));
  return out;
}

FailureOr<int64_t> OpRunner::address(const Descriptor &d,
                                     ArrayRef<int64_t> indices, int64_t count,
                                     bool checkDims) {
  int64_t a = d.offset;
  for (auto [i, idx] : llvm::enumerate(indices)) {
    if (checkDims && (idx < 0 || idx >= d.sizes[i]))
      return fail("index " + Twine(idx) + " out of bounds for dimension " +
                  Twine(i) + " of size " + Twine(d.sizes[i]));
    a += idx * d.strides[i];
  }
  const Buffer &buf = sim.buffers[d.buffer];
  if (buf.freed)
    return fail("access to freed memory");
  if (a < 0 || (a + count) * static_cast<int64_t>(d.elementBytes) >
                   static_cast<int64_t>(buf.bytes.size()))
    return fail("access outside its buffer");
  return a;
}

FailureOr<uint8_t *> OpRunner::pointer(unsigned desc,
                                       ArrayRef<int64_t> indices,
                                       int64_t count, bool checkDims) {
  const Descriptor &d = sim.descriptors[desc];
  FailureOr<int64_t> a = address(d, indices, count, checkDims);
  if (failed(a))
    return failure();
  return sim.buffers[d.buffer].bytes.data() + *a * d.elementBytes;
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
    FailureOr<uint8_t *> p =
        pointer(desc, indicesOf(indices, l), r.width, !isVector);
    if (failed(p))
      return failure();
    if (alignment && reinterpret_cast<uintptr_t>(*p) % *alignment != 0) {
      // Buffers start 16-byte aligned in the simulator (as cudaMalloc's are).
      uintptr_t base = reinterpret_cast<uintptr_t>(
          sim.buffers[sim.descriptors[desc].buffer].bytes.data());
      if ((reinterpret_cast<uintptr_t>(*p) - base) % *alignment != 0)
        return fail("misaligned access for alignment " + Twine(*alignment));
    }
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
        pointer(desc, indicesOf(indices, l), v.width, v.width == 1 &&
                                                          !isa<vector::StoreOp>(op));
    if (failed(p))
      return failure();
    if (alignment) {
      uintptr_t base = reinterpret_cast<uintptr_t>(
          sim.buffers[sim.descriptors[desc].buffer].bytes.data());
      if ((reinterpret_cast<uintptr_t>(*p) - base) % *alignment != 0)
        return fail("misaligned access for alignment " + Twine(*alignment));
    }
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
    FailureOr<uint8_t *> p = pointer(m.at(l), indicesOf(a.getIndices(), l), 1);
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
      FailureOr<uint8_t *> ps = pointer(s.at(l), idx, 1);
      FailureOr<uint8_t *> pd = pointer(d.at(l), idx, 1);
      if (failed(ps) || failed(pd))
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

//===----------------------------------------------------------------------===//
// Vector operations
//===----------------------------------------------------------------------===//

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

//===----------------------------------------------------------------------===//
// Warp collectives
//===----------------------------------------------------------------------===//

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
    for (unsigned l = 0; l < 32; ++l) {
      FailureOr<uint8_t *> p =
          pointer(m.at(w + l), indicesOf(ld.getIndices(), w + l), 8, false);
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

LogicalResult OpRunner::asyncCopy(nvgpu::DeviceAsyncCopyOp c) {
  LaneValues &dst = get(c.getDst()), &src = get(c.getSrc());
  int64_t n = c.getDstElements().getZExtValue();
  result();
  for (unsigned l = 0; l < frame.lanes; ++l) {
    if (!active(l))
      continue;
    int64_t valid = n;
    if (c.getSrcElements())
      valid = static_cast<int64_t>(get(c.getSrcElements()).at(l));
    FailureOr<uint8_t *> pd =
        pointer(dst.at(l), indicesOf(c.getDstIndices(), l), n, false);
    if (failed(pd))
      return failure();
    unsigned bytes = sim.descriptors[dst.at(l)].elementBytes;
    std::memset(*pd, 0, n * bytes);
    if (valid > 0) {
      FailureOr<uint8_t *> ps =
          pointer(src.at(l), indicesOf(c.getSrcIndices(), l), valid, false);
      if (failed(ps))
        return failure();
      std::memcpy(*pd, *ps, valid * bytes);
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

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
            unsigned buf = sim.newBuffer(n * bytes, 0xAB);
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
      .Case([&](gpu::BarrierOp) { return warpActive(); })
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
      .Case([&](nvgpu::DeviceAsyncCreateGroupOp) { return uniform(0); })
      .Case([&](nvgpu::DeviceAsyncWaitOp) { return success(); })
      .Default([&](Operation *) {
        return fail("unsupported operation '" +
                    op->getName().getStringRef() + "'");
      });
}

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
        for (BlockArgument wg : kernel.getWorkgroupAttributions()) {
          auto type = cast<MemRefType>(wg.getType());
          unsigned bytes = elementBytes(type.getElementType());
          unsigned buf = newBuffer(type.getNumElements() * bytes, 0xCD);
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
    unsigned buf = newBuffer(m.getNumElements() * bytes, 0xAB);
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
      unsigned buf = newBuffer(0, 0);
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
