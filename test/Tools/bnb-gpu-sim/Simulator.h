//===- Simulator.h - a SIMT interpreter for GPU-dialect programs --*- C++ -*-===//
//
// Runs a host function and the gpu.func kernels it launches on the CPU, at
// the level convert-bnb-to-gpu and bufferization leave them (func, scf,
// arith, math, memref, vector, gpu, nvgpu, nvvm mma.sync). The threads of a
// block execute in lockstep, one operation at a time for all lanes under an
// activity mask; warp-collective operations (shuffles, ldmatrix, mma.sync)
// require their whole warp to be active, as the hardware does, and
// gpu.barrier its whole block. Memory accesses are bounds-, alignment- and
// lifetime-checked. Workgroup memory is checked for data races between
// barriers, and asynchronous copies land only when a wait retires their
// group, so that reading their destination too early is an error rather
// than a lucky success of lockstep execution.
//
// Floating point follows IEEE arithmetic of each type with round to nearest
// even (APFloat), matching PTX's .rn operations; tensor-core products are
// summed in double precision before rounding to the accumulator type, which
// is as exact as or more exact than the hardware.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_TOOLS_BNBGPUSIM_SIMULATOR_H
#define BNB_TEST_TOOLS_BNBGPUSIM_SIMULATOR_H

#include "Npy.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/DenseMap.h"

#include <deque>
#include <string>
#include <unordered_map>

namespace bnb::sim {

/// The values of one SSA value for every lane: `width` 64-bit words per lane
/// (one per vector element; a memref is a descriptor index).
struct LaneValues {
  unsigned width = 1;
  std::vector<uint64_t> words;

  LaneValues() = default;
  LaneValues(unsigned lanes, unsigned width)
      : width(width), words(static_cast<size_t>(lanes) * width) {}
  uint64_t &at(unsigned lane, unsigned i = 0) { return words[lane * width + i]; }
  uint64_t at(unsigned lane, unsigned i = 0) const {
    return words[lane * width + i];
  }
};

using Mask = llvm::BitVector;

/// A buffer of device or host memory.
struct Buffer {
  std::vector<uint8_t> bytes;
  bool freed = false;
  /// Workgroup (shared) memory of one block: its accesses are checked for
  /// races and pending asynchronous copies.
  bool workgroup = false;
  /// How errors name the buffer, e.g. "workgroup buffer 0".
  std::string name;
};

/// What happened to one byte of workgroup memory. Thread fields hold a
/// linear thread index, `none` or `several`.
struct ByteAccess {
  static constexpr int32_t none = -1, several = -2;
  /// The barrier phase `writer`, `reader` and `atomic` belong to; older
  /// phases count as no access.
  uint32_t phase = 0;
  int32_t writer = none, reader = none, atomic = none;
  /// The thread whose asynchronous copy to this byte has not landed yet
  /// (whatever the phase).
  int32_t pending = none;
};

/// An issued asynchronous copy: its destination and the bytes it will land
/// (read from the source at issue, zero fill included).
struct AsyncCopy {
  unsigned buffer = 0;
  int64_t offset = 0;
  std::vector<uint8_t> bytes;
};

/// The synchronization state of a running block.
struct BlockState {
  /// Incremented at every gpu.barrier.
  uint32_t phase = 1;
  /// Per workgroup buffer, the accesses to each of its bytes.
  llvm::DenseMap<unsigned, std::vector<ByteAccess>> accesses;
  /// Per thread, copies not yet committed to a group, and the committed
  /// groups still in flight, oldest first.
  std::vector<std::vector<AsyncCopy>> uncommitted;
  std::vector<std::deque<std::vector<AsyncCopy>>> groups;
};

/// A strided view of a buffer.
struct Descriptor {
  unsigned buffer = 0;
  int64_t offset = 0;
  llvm::SmallVector<int64_t> sizes, strides;
  unsigned elementBytes = 1;
};

/// Hashes SSA values for std::unordered_map.
struct ValueHash {
  size_t operator()(mlir::Value v) const { return mlir::hash_value(v); }
};

/// The lanes of a running thread group and their SSA values.
struct Frame {
  unsigned lanes = 1;
  /// Per lane thread index (x, y, z); block and grid are uniform.
  std::vector<std::array<int64_t, 3>> threadIds;
  std::array<int64_t, 3> blockId{0, 0, 0}, blockDim{1, 1, 1},
      gridDim{1, 1, 1};
  /// The kernel running, empty in host code.
  std::string kernel;
  BlockState block;
  /// Node-based, so that references to values stay valid while results are
  /// added.
  std::unordered_map<mlir::Value, LaneValues, ValueHash> values;
};

/// Interprets a module.
class Simulator {
public:
  explicit Simulator(mlir::ModuleOp module) : module(module) {}

  /// Runs func.func `name` with `inputs` bound to its first memref or scalar
  /// arguments and returns in `outputs` the remaining arguments (statically
  /// shaped out-parameters the simulator allocates), then its memref
  /// results.
  mlir::LogicalResult run(llvm::StringRef name, llvm::ArrayRef<NpyArray> inputs,
                          std::vector<NpyArray> &outputs);

  /// The contents of input `index` after the last run (arguments updated in
  /// place, such as KV caches).
  mlir::FailureOr<NpyArray> inputAfterRun(unsigned index);

  /// Number of kernels launched so far.
  unsigned numLaunches() const { return launches; }

private:
  friend class OpRunner;

  mlir::LogicalResult runBlock(mlir::Block &block, Frame &frame,
                               const Mask &mask,
                               llvm::ArrayRef<LaneValues> args,
                               llvm::SmallVectorImpl<LaneValues> *yielded);
  mlir::LogicalResult runOp(mlir::Operation *op, Frame &frame,
                            const Mask &mask);
  mlir::LogicalResult launch(mlir::Operation *launchOp, Frame &host);

  /// A fresh buffer of `bytes` bytes set to `fill`, named `name` in errors.
  unsigned newBuffer(size_t bytes, uint8_t fill, std::string name);
  /// Copies the elements `desc` views into a dense array of `type`.
  mlir::FailureOr<NpyArray> readDescriptor(unsigned desc, mlir::Type type);
  unsigned newDescriptor(Descriptor d);
  /// The descriptor of the memref global `name` visible from `from`.
  mlir::FailureOr<unsigned> globalDescriptor(mlir::Operation *from,
                                             llvm::StringRef name);

  mlir::ModuleOp module;
  std::vector<Buffer> buffers;
  std::vector<Descriptor> descriptors;
  llvm::DenseMap<mlir::Operation *, unsigned> globals;
  /// The function and input descriptors of the last run.
  mlir::Operation *lastEntry = nullptr;
  llvm::SmallVector<std::pair<unsigned, mlir::Type>> inputDescriptors;
  unsigned launches = 0;
};

} // namespace bnb::sim

#endif // BNB_TEST_TOOLS_BNBGPUSIM_SIMULATOR_H
