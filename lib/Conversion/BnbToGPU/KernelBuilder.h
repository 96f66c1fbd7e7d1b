//===- KernelBuilder.h - building bnb GPU kernels -----------------*- C++ -*-===//
//
// Device-side helpers shared by the bnb kernel generators: the gpu.module
// that holds the kernels, kernel creation, constant tables, and a builder
// with shorthands for the integer/float arithmetic, memory accesses, warp
// shuffles and structured control flow that kernel bodies are made of.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_CONVERSION_BNBTOGPU_KERNELBUILDER_H
#define BNB_CONVERSION_BNBTOGPU_KERNELBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::bnb::gpu {

/// Name of the gpu.module that holds the bnb kernels of a module.
inline constexpr llvm::StringLiteral kKernelModuleName = "bnb_kernels";

/// Returns the kernel gpu.module of `module`, creating it (and marking
/// `module` as a GPU container module) when absent.
::mlir::gpu::GPUModuleOp getOrCreateKernelModule(ModuleOp module);

class KernelBuilder;

/// Builds the body of a kernel from its arguments.
using KernelBodyFn = llvm::function_ref<void(KernelBuilder &, ValueRange)>;

/// Returns the kernel `name` of the kernel module of `module`, creating it
/// with argument types `argTypes`, a 1-D block of `blockSize` threads,
/// the shared-memory buffers `workgroupBuffers` (passed to `body` after the
/// arguments) and the body `body` when it does not exist yet.
::mlir::gpu::GPUFuncOp getOrBuildKernel(ModuleOp module, StringRef name,
                                        TypeRange argTypes, int64_t blockSize,
                                        KernelBodyFn body,
                                        TypeRange workgroupBuffers = {});

/// A 1-D dynamic memref of `elementType` in global memory: the type of every
/// buffer argument of the bnb kernels.
MemRefType kernelBufferType(Type elementType);

/// A static shared-memory buffer type.
MemRefType sharedBufferType(ArrayRef<int64_t> shape, Type elementType);

/// An ImplicitLocOpBuilder with shorthands for kernel bodies. Integer helpers
/// accept index or signless integer operands of one type; the constant is
/// created in the type of the other operand.
class KernelBuilder : public ImplicitLocOpBuilder {
public:
  using ImplicitLocOpBuilder::ImplicitLocOpBuilder;

  //===--- Constants ------------------------------------------------------===//
  Value idx(int64_t value);
  Value i32(int64_t value);
  Value intConst(Type type, int64_t value);
  Value f32(float value);
  Value f32Bits(uint32_t bits);
  Value floatConst(Type type, double value);

  //===--- Integer and index arithmetic -----------------------------------===//
  Value add(Value a, Value b);
  Value add(Value a, int64_t b);
  Value sub(Value a, Value b);
  Value mul(Value a, Value b);
  Value mul(Value a, int64_t b);
  Value divu(Value a, Value b);
  Value divu(Value a, int64_t b);
  Value remu(Value a, int64_t b);
  Value minu(Value a, Value b);
  Value shl(Value a, int64_t bits);
  Value shru(Value a, int64_t bits);
  Value shru(Value a, Value bits);
  Value andi(Value a, int64_t mask);
  Value andi(Value a, Value b);
  Value ori(Value a, Value b);
  Value cmpi(arith::CmpIPredicate pred, Value a, Value b);
  Value cmpi(arith::CmpIPredicate pred, Value a, int64_t b);
  Value select(Value cond, Value a, Value b);
  Value toIndex(Value v);
  Value toI32(Value v);
  /// Converts index, i32 (zero-extended) or i64 to i64.
  Value toI64(Value v);
  Value zext(Value v, Type type);
  Value trunc(Value v, Type type);
  Value bitcast(Value v, Type type);

  //===--- Floating point (never contracted) ------------------------------===//
  Value fadd(Value a, Value b);
  Value fmul(Value a, Value b);
  /// A fused multiply-add with a single rounding.
  Value fma(Value a, Value b, Value c);
  Value fabs(Value a);
  /// The larger of `a` and `b`, ignoring a NaN operand (fmaxf).
  Value fmax(Value a, Value b);
  Value cmpf(arith::CmpFPredicate pred, Value a, Value b);
  /// Converts a float to another float type with round-to-nearest-even
  /// (exact when widening); the identity when the types match.
  Value castFloat(Value v, Type type);

  //===--- Thread indexing (1-D blocks) -----------------------------------===//
  Value threadId();
  Value blockId(::mlir::gpu::Dimension dim = ::mlir::gpu::Dimension::x);
  Value gridDim(::mlir::gpu::Dimension dim = ::mlir::gpu::Dimension::x);
  /// threadIdx.x % 32 and threadIdx.x / 32 as i32.
  Value laneId();
  Value warpId();

  //===--- Memory ----------------------------------------------------------===//
  Value load(Value memref, ValueRange indices);
  void store(Value value, Value memref, ValueRange indices);
  /// Loads `count` elements starting at `index` as one vector access of
  /// `alignment` bytes.
  Value loadVector(Value memref, Value index, int64_t count,
                   int64_t alignment);
  void storeVector(Value vector, Value memref, Value index, int64_t alignment);
  /// Loads one byte of a ui8 buffer as a signless i8.
  Value loadByte(Value memref, Value index);
  /// Stores a signless i8 into a ui8 buffer.
  void storeByte(Value byte, Value memref, Value index);
  /// Atomically ORs the i32 `value` into `memref[index]`.
  void atomicOr(Value value, Value memref, Value index);
  /// Number of set bits of an integer.
  Value popcount(Value v);
  /// Loads 16 bytes of a ui8 buffer (16-byte aligned) as vector<4xi32>.
  Value loadBytes16(Value memref, Value index);
  /// A constant global table `name` of the enclosing kernel module holding
  /// `bits` reinterpreted as `elementType` (f32 or i32), created on first
  /// use; returns its memref.
  Value constantTable(StringRef name, Type elementType,
                      ArrayRef<uint32_t> bits);

  //===--- Warp shuffles ---------------------------------------------------===//
  Value shuffleXor(Value v, int32_t offset);
  Value shuffleDown(Value v, int32_t offset);
  Value shuffleIdx(Value v, Value lane);
  Value shuffleUp(Value v, int32_t offset);
  /// Inclusive prefix sum of an i32 over the lanes of the warp.
  Value warpInclusiveScan(Value v);
  /// Sum over the warp by shuffle-down with offsets 16, 8, 4, 2, 1; lane 0
  /// holds the result.
  Value warpSum(Value v);
  /// Maximum over the warp (fmaxf) by xor shuffles; every lane holds it.
  Value warpMax(Value v);

  //===--- Structured control flow -----------------------------------------===//
  void forLoop(Value lb, Value ub, Value step,
               llvm::function_ref<void(KernelBuilder &, Value)> body);
  SmallVector<Value>
  forLoop(Value lb, Value ub, Value step, ValueRange init,
          llvm::function_ref<SmallVector<Value>(KernelBuilder &, Value,
                                                ValueRange)>
              body);
  void ifThen(Value cond, llvm::function_ref<void(KernelBuilder &)> thenFn);
  SmallVector<Value>
  ifThenElse(Value cond, TypeRange types,
             llvm::function_ref<SmallVector<Value>(KernelBuilder &)> thenFn,
             llvm::function_ref<SmallVector<Value>(KernelBuilder &)> elseFn);
  void barrier();
};

} // namespace mlir::bnb::gpu

#endif // BNB_CONVERSION_BNBTOGPU_KERNELBUILDER_H
