//===- SimInternal.h - shared internals of bnb-gpu-sim ----------*- C++ -*-===//
//
// Type helpers and the per-operation interpreter that the simulator's source
// files (one per concern: memory, arithmetic, vectors, warp collectives,
// tensor-core products, asynchronous copies, dispatch) share.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_TOOLS_BNBGPUSIM_SIMINTERNAL_H
#define BNB_TEST_TOOLS_BNBGPUSIM_SIMINTERNAL_H

#include "Simulator.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "llvm/ADT/APFloat.h"

namespace bnb::sim {

//===----------------------------------------------------------------------===//
// Type helpers
//===----------------------------------------------------------------------===//

/// Bits of an integer, float or index type (index is 64 bits).
unsigned bitWidthOf(mlir::Type t);
/// The element type of a vector, or `t` itself.
mlir::Type elementTypeOf(mlir::Type t);
/// Words a value of type `t` occupies per lane.
unsigned widthOf(mlir::Type t);
/// The low `w` bits of `v`.
uint64_t truncBits(uint64_t v, unsigned w);
/// `v` read as a signed `w`-bit integer.
int64_t signExtend(uint64_t v, unsigned w);
/// The float of type `t` with bit pattern `bits`.
llvm::APFloat toFloat(mlir::Type t, uint64_t bits);
/// The bit pattern of `f`.
uint64_t fromFloat(const llvm::APFloat &f);
/// `v` rounded to float type `to`, to nearest even.
llvm::APFloat convertFloat(llvm::APFloat v, mlir::Type to);
/// The float of type `t` with bit pattern `bits`, as a double.
double toDouble(mlir::Type t, uint64_t bits);
/// The bit pattern of `v` rounded to float type `t`.
uint64_t fromDouble(mlir::Type t, double v);
/// Bytes an element of type `t` occupies in memory.
unsigned elementBytes(mlir::Type t);
/// The numpy dtype string of `t`, or "" when there is none.
std::string dtypeOf(mlir::Type t);

/// A dense row-major view of `buffer` with shape `sizes`.
Descriptor contiguousDescriptor(unsigned buffer, llvm::ArrayRef<int64_t> sizes,
                                unsigned eltBytes);

//===----------------------------------------------------------------------===//
// Operation semantics
//===----------------------------------------------------------------------===//

/// How an operation uses the memory it addresses.
enum class Access { None, Read, Write, Atomic };

/// Runs one operation for the active lanes of a frame.
class OpRunner {
public:
  OpRunner(Simulator &sim, Frame &frame, const Mask &mask, mlir::Operation *op)
      : sim(sim), frame(frame), mask(mask), op(op) {}

  mlir::LogicalResult run();

private:
  LaneValues &get(mlir::Value v) {
    auto it = frame.values.find(v);
    if (it == frame.values.end())
      llvm::report_fatal_error("bnb-gpu-sim: use of an unevaluated value");
    return it->second;
  }
  LaneValues &result(unsigned i = 0) {
    mlir::Value r = op->getResult(i);
    LaneValues &lv = frame.values[r];
    lv = LaneValues(frame.lanes, widthOf(r.getType()));
    return lv;
  }
  bool active(unsigned lane) const { return mask.test(lane); }
  /// Reports `msg` at the operation, with the kernel and block it runs in.
  mlir::LogicalResult fail(const llvm::Twine &msg);
  /// Reports `msg` about what thread `lane` did.
  mlir::LogicalResult failLane(unsigned lane, const llvm::Twine &msg);
  /// "thread (x,y,z)" of `lane`.
  std::string threadName(unsigned lane) const;

  mlir::LogicalResult constant(mlir::arith::ConstantOp c);
  mlir::LogicalResult intBinary();
  mlir::LogicalResult floatBinary();
  mlir::LogicalResult floatUnary();
  mlir::LogicalResult conversion();
  mlir::LogicalResult cmp();
  mlir::LogicalResult select(mlir::arith::SelectOp s);
  mlir::LogicalResult fma();

  /// The linear element address of `indices` in descriptor `d` for lane
  /// `lane`, checked against the buffer (and the view's sizes when
  /// `checkDims`).
  mlir::FailureOr<int64_t> address(unsigned lane, const Descriptor &d,
                                   llvm::ArrayRef<int64_t> indices,
                                   int64_t count, bool checkDims);
  /// The host address of `count` elements at `indices` of descriptor `desc`,
  /// bounds-checked, checked to be a multiple of `align` bytes and, in
  /// workgroup memory, recorded as `kind` by `lane`.
  mlir::FailureOr<uint8_t *> pointer(unsigned lane, unsigned desc,
                                     llvm::ArrayRef<int64_t> indices,
                                     int64_t count, Access kind,
                                     bool checkDims = true,
                                     uint64_t align = 1);
  /// Fails unless byte `offset` of buffer `buffer` is a multiple of `align`.
  mlir::LogicalResult checkAligned(unsigned lane, unsigned buffer,
                                   int64_t offset, uint64_t align);
  llvm::SmallVector<int64_t> indicesOf(mlir::ValueRange indices, unsigned lane);
  mlir::LogicalResult load(mlir::Value memref, mlir::ValueRange indices,
                           bool isVector, std::optional<uint64_t> alignment);
  mlir::LogicalResult store(mlir::Value value, mlir::Value memref,
                            mlir::ValueRange indices,
                            std::optional<uint64_t> alignment);
  mlir::LogicalResult atomic(mlir::memref::AtomicRMWOp a);
  mlir::LogicalResult view();
  mlir::LogicalResult copy(mlir::Value src, mlir::Value dst);

  mlir::LogicalResult vectorOp();
  mlir::LogicalResult shuffle(mlir::gpu::ShuffleOp s);
  mlir::LogicalResult ldmatrix(mlir::nvgpu::LdMatrixOp l);
  mlir::LogicalResult mma(mlir::Operation *mmaOp, mlir::Type eltType, int64_t k,
                          llvm::ArrayRef<mlir::Value> a,
                          llvm::ArrayRef<mlir::Value> b,
                          llvm::ArrayRef<mlir::Value> c);
  mlir::LogicalResult warpActive();

  /// Records a `kind` access by `lane` to `bytes` bytes at byte `offset` of
  /// workgroup buffer `buffer`; fails on a race with another thread since
  /// the last barrier, or on bytes an asynchronous copy has yet to land.
  mlir::LogicalResult track(unsigned lane, unsigned buffer, int64_t offset,
                            int64_t bytes, Access kind);
  /// The access records of workgroup buffer `buffer` in this block.
  std::vector<ByteAccess> &accessesOf(unsigned buffer);
  /// gpu.barrier: every thread of the block must reach it; starts a phase.
  mlir::LogicalResult barrier();

  mlir::LogicalResult asyncCopy(mlir::nvgpu::DeviceAsyncCopyOp c);
  mlir::LogicalResult asyncCommit();
  mlir::LogicalResult asyncWait(mlir::nvgpu::DeviceAsyncWaitOp w);
  /// Writes the bytes of `copy`, issued by `lane`, to their destination.
  mlir::LogicalResult land(unsigned lane, const AsyncCopy &copy);

  Simulator &sim;
  Frame &frame;
  const Mask &mask;
  mlir::Operation *op;
};

} // namespace bnb::sim

#endif // BNB_TEST_TOOLS_BNBGPUSIM_SIMINTERNAL_H
