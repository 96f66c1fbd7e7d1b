//===- DTypeMapping.cpp - MLIR element types <-> safetensors dtypes --------===//

#include "bnb/Dialect/Bnb/Utils/DTypeMapping.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using ::bnb::DType;

std::optional<DType> mlir::bnb::toDType(Type type) {
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (type.isF32())
    return DType::F32;
  if (type.isF64())
    return DType::F64;
  auto intType = dyn_cast<IntegerType>(type);
  if (!intType)
    return std::nullopt;
  switch (intType.getWidth()) {
  case 1:
    return DType::Bool;
  case 8:
    return intType.isUnsigned() ? DType::U8 : DType::I8;
  case 16:
    return intType.isUnsigned() ? std::nullopt : std::optional(DType::I16);
  case 32:
    return intType.isUnsigned() ? std::nullopt : std::optional(DType::I32);
  case 64:
    return intType.isUnsigned() ? std::nullopt : std::optional(DType::I64);
  default:
    return std::nullopt;
  }
}

Type mlir::bnb::fromDType(MLIRContext *context, DType dtype) {
  Builder b(context);
  switch (dtype) {
  case DType::F16:
    return b.getF16Type();
  case DType::BF16:
    return b.getBF16Type();
  case DType::F32:
    return b.getF32Type();
  case DType::F64:
    return b.getF64Type();
  case DType::I8:
    return b.getI8Type();
  case DType::U8:
    return IntegerType::get(context, 8, IntegerType::Unsigned);
  case DType::I16:
    return b.getI16Type();
  case DType::I32:
    return b.getI32Type();
  case DType::I64:
    return b.getI64Type();
  case DType::Bool:
    return b.getI1Type();
  }
  return Type();
}
