//===- UkernelCall.cpp - tensor-level calls of runtime microkernels --------===//

#include "UkernelCall.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::bnb;

StringRef ukernels::matmulSymbol(Type weightType) {
  if (weightType.isF32())
    return "bnbrt_uk_matmul_f32";
  if (weightType.isF16())
    return "bnbrt_uk_matmul_f16";
  if (weightType.isBF16())
    return "bnbrt_uk_matmul_bf16";
  return "";
}

int64_t ukernels::dtypeCode(Type type) {
  if (type.isF32())
    return 0;
  if (type.isF16())
    return 1;
  if (type.isBF16())
    return 2;
  return -1;
}

Value ukernels::flatten1D(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getRank() == 1)
    return tensor;
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  if (type.getRank() == 0)
    return tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get({1}, type.getElementType()), tensor,
        ArrayRef<ReassociationIndices>{});
  return tensor::CollapseShapeOp::create(b, loc, tensor,
                                         ArrayRef<ReassociationIndices>{all});
}

Value ukernels::f32Constant(OpBuilder &b, Location loc,
                            ArrayRef<float> values) {
  auto type = RankedTensorType::get({int64_t(values.size())}, b.getF32Type());
  return arith::ConstantOp::create(b, loc,
                                   DenseElementsAttr::get(type, values));
}

bool ukernels::symbolAvailable(ModuleOp module, StringRef symbol) {
  Operation *existing = module.lookupSymbol(symbol);
  return !existing || existing->hasAttr(ukernels::kUkernelAttr);
}

namespace {
/// The memref a tensor operand is passed as: same shape, identity layout,
/// unsigned bytes as signless i8 (what bufferization handles).
MemRefType memrefFor(RankedTensorType type) {
  Type elt = type.getElementType();
  if (auto intType = dyn_cast<IntegerType>(elt); intType && !intType.isSignless())
    elt = IntegerType::get(type.getContext(), intType.getWidth());
  return MemRefType::get(type.getShape(), elt);
}

func::FuncOp declare(OpBuilder &b, ModuleOp module, StringRef symbol,
                     TypeRange argTypes) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(symbol))
    return existing;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto func = func::FuncOp::create(b, module.getLoc(), symbol,
                                   b.getFunctionType(argTypes, {}));
  func.setPrivate();
  func->setAttr(ukernels::kUkernelAttr, b.getUnitAttr());
  func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                b.getUnitAttr());
  return func;
}
} // namespace

Value ukernels::callUkernel(OpBuilder &b, Location loc, ModuleOp module,
                            StringRef symbol, RankedTensorType resultType,
                            ValueRange operands, ValueRange scalars) {
  // Declared with dynamic sizes so that calls of every shape share one
  // declaration; the kernels read the sizes from the descriptors.
  auto dynamicOf = [](MemRefType type) {
    SmallVector<int64_t> dynamic(type.getRank(), ShapedType::kDynamic);
    return MemRefType::get(dynamic, type.getElementType());
  };
  MemRefType outType = memrefFor(resultType);
  SmallVector<Type> argTypes = {dynamicOf(outType)};
  for (Value operand : operands)
    argTypes.push_back(
        dynamicOf(memrefFor(cast<RankedTensorType>(operand.getType()))));
  llvm::append_range(argTypes, scalars.getTypes());
  auto existing = module.lookupSymbol<func::FuncOp>(symbol);
  assert((!existing || existing.getFunctionType().getInputs() ==
                           TypeRange(argTypes)) &&
         "one signature per microkernel symbol");
  func::FuncOp callee = existing ? existing
                                 : declare(b, module, symbol, argTypes);

  SmallVector<Value> args;
  Value out = memref::AllocOp::create(b, loc, outType);
  args.push_back(memref::CastOp::create(b, loc, argTypes[0], out));
  for (auto [i, operand] : llvm::enumerate(operands)) {
    auto type = cast<RankedTensorType>(operand.getType());
    MemRefType bufferType = memrefFor(type);
    if (bufferType.getElementType() != type.getElementType())
      operand = tensor::BitcastOp::create(
          b, loc, type.clone(bufferType.getElementType()), operand);
    Value buffer = bufferization::ToBufferOp::create(b, loc, bufferType,
                                                     operand,
                                                     /*readOnly=*/true);
    args.push_back(memref::CastOp::create(b, loc, argTypes[i + 1], buffer));
  }
  llvm::append_range(args, scalars);
  func::CallOp::create(b, loc, callee, args);
  Type tensorType = resultType.clone(outType.getElementType());
  Value result = bufferization::ToTensorOp::create(
      b, loc, tensorType, out, /*restrict=*/true, /*writable=*/true);
  if (tensorType != resultType)
    result = tensor::BitcastOp::create(b, loc, resultType, result);
  return result;
}
