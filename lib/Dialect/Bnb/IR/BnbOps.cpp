//===- BnbOps.cpp - bnb operations ----------------------------------------===//
//
// Verifiers and folders of the bnb operations. Every structural rule of an op
// is checked here so that passes may assume verified input.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/IR/BnbOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"

#include "llvm/Support/CheckedArithmetic.h"

using namespace mlir;
using namespace mlir::bnb;

#define GET_OP_CLASSES
#include "bnb/Dialect/Bnb/IR/BnbOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared checks
//===----------------------------------------------------------------------===//

namespace {
/// ceil(a / b) for non-negative a and positive b, without the overflow of
/// a + b - 1 near INT64_MAX.
int64_t ceilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/// Number of elements of a static shape, or std::nullopt when dynamic or
/// beyond int64_t (ShapedType::getNumElements would overflow).
std::optional<int64_t> staticNumElements(ShapedType type) {
  if (!type.hasStaticShape())
    return std::nullopt;
  int64_t count = 1;
  for (int64_t dim : type.getShape()) {
    std::optional<int64_t> next = llvm::checkedMul(count, dim);
    if (!next)
      return std::nullopt;
    count = *next;
  }
  return count;
}

/// True when `a` and `b` are equal or either is dynamic.
bool compatibleDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Checks the `[ceil(n/2), 1]` shape of a packed 4-bit operand.
LogicalResult verifyPackedShape(Operation *op, StringRef what,
                                RankedTensorType packed,
                                std::optional<int64_t> numElements) {
  if (packed.getRank() != 2 || !compatibleDim(packed.getDimSize(1), 1))
    return op->emitOpError() << what << " must have shape [ceil(n/2), 1], got "
                             << packed;
  if (numElements && !ShapedType::isDynamic(packed.getDimSize(0)) &&
      packed.getDimSize(0) != ceilDiv(*numElements, 2))
    return op->emitOpError()
           << what << " holds " << packed.getDimSize(0)
           << " bytes but ceil(n/2) = " << ceilDiv(*numElements, 2)
           << " for n = " << *numElements;
  return success();
}

/// Checks that an absmax operand holds ceil(n/blocksize) entries.
LogicalResult verifyAbsmaxCount(Operation *op, StringRef what,
                                RankedTensorType absmax,
                                std::optional<int64_t> numElements,
                                int64_t blocksize) {
  if (absmax.getRank() != 1)
    return op->emitOpError() << what << " must be 1-D, got " << absmax;
  if (numElements && !ShapedType::isDynamic(absmax.getDimSize(0)) &&
      absmax.getDimSize(0) != ceilDiv(*numElements, blocksize))
    return op->emitOpError()
           << what << " has " << absmax.getDimSize(0)
           << " entries but ceil(n/blocksize) = "
           << ceilDiv(*numElements, blocksize) << " for n = " << *numElements
           << " and blocksize " << blocksize;
  return success();
}

LogicalResult verify4bitBlocksize(Operation *op, int64_t blocksize) {
  if (!isValid4bitBlocksize(blocksize))
    return op->emitOpError() << "blocksize " << blocksize
                             << " is not one bitsandbytes accepts for 4-bit "
                                "quantization (32, 64, ..., 4096)";
  return success();
}

LogicalResult verifyThreshold(Operation *op, APFloat threshold) {
  if (threshold.isNaN() || threshold.isNegative())
    return op->emitOpError() << "threshold must be >= 0";
  return success();
}

/// Checks `result = input[..., :K] -> [..., N]` for a linear layer.
LogicalResult verifyLinearShapes(Operation *op, RankedTensorType input,
                                 RankedTensorType result, int64_t inFeatures,
                                 int64_t outFeatures) {
  if (input.getRank() < 1)
    return op->emitOpError() << "input must have rank >= 1";
  if (!compatibleDim(input.getShape().back(), inFeatures))
    return op->emitOpError() << "input has " << input.getShape().back()
                             << " features but the weight expects "
                             << inFeatures;
  if (result.getRank() != input.getRank())
    return op->emitOpError() << "result rank " << result.getRank()
                             << " differs from input rank " << input.getRank();
  for (int64_t i = 0, e = input.getRank() - 1; i < e; ++i)
    if (!compatibleDim(input.getDimSize(i), result.getDimSize(i)))
      return op->emitOpError() << "result dimension " << i << " ("
                               << result.getDimSize(i)
                               << ") differs from the input's ("
                               << input.getDimSize(i) << ")";
  if (!compatibleDim(result.getShape().back(), outFeatures))
    return op->emitOpError() << "result has " << result.getShape().back()
                             << " features but the weight has " << outFeatures
                             << " outputs";
  if (result.getElementType() != input.getElementType())
    return op->emitOpError()
           << "result element type must equal the input's ("
           << input.getElementType() << ")";
  return success();
}

LogicalResult verifyBias(Operation *op, Value bias, int64_t outFeatures) {
  if (!bias)
    return success();
  auto type = cast<RankedTensorType>(bias.getType());
  if (type.getRank() != 1 || !compatibleDim(type.getDimSize(0), outFeatures))
    return op->emitOpError() << "bias must have shape [" << outFeatures
                             << "], got " << type;
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// LinearInt8Op
//===----------------------------------------------------------------------===//

int64_t LinearInt8Op::getOutFeatures() {
  auto type = cast<RankedTensorType>(getWeight().getType());
  return type.getDimSize(getConv1d() ? 1 : 0);
}

int64_t LinearInt8Op::getInFeatures() {
  auto type = cast<RankedTensorType>(getWeight().getType());
  return type.getDimSize(getConv1d() ? 0 : 1);
}

LogicalResult LinearInt8Op::verify() {
  if (failed(verifyThreshold(*this, getThreshold())))
    return failure();
  auto weight = cast<RankedTensorType>(getWeight().getType());
  if (weight.getRank() != 2)
    return emitOpError() << "weight must be 2-D, got " << weight;
  Type weightElt = weight.getElementType();
  bool isInt8 = weightElt.isSignlessInteger(8);
  if (weightElt.isUnsignedInteger(8))
    return emitOpError() << "int8 weight must be i8, got " << weight;
  if (isInt8) {
    if (!getScb())
      return emitOpError() << "int8 weight requires its scb operand";
    if (getHasFp16Weight())
      return emitOpError() << "has_fp16_weight requires a float weight";
    if (getConv1d())
      return emitOpError()
             << "an int8 weight is always [out, in]; conv1d applies only to "
                "float weights";
    auto scb = cast<RankedTensorType>(getScb().getType());
    if (scb.getRank() != 1 ||
        !compatibleDim(scb.getDimSize(0), weight.getDimSize(0)))
      return emitOpError() << "scb must have shape [" << weight.getDimSize(0)
                           << "], got " << scb;
  } else if (getScb()) {
    return emitOpError() << "scb is only valid with an i8 weight";
  }
  // bitsandbytes takes the absmax of every weight row; rows of no element
  // have none (torch raises), and their SCB would still take a float each.
  if (getInFeatures() == 0 && getOutFeatures() != 0)
    return emitOpError() << "weight " << weight
                         << " has rows of no element; LLM.int8() needs "
                            "in_features > 0";
  if (failed(verifyBias(*this, getBias(), getOutFeatures())))
    return failure();
  return verifyLinearShapes(*this, getInput().getType(),
                            getResult().getType(), getInFeatures(),
                            getOutFeatures());
}

//===----------------------------------------------------------------------===//
// Linear4bitOp
//===----------------------------------------------------------------------===//

LogicalResult Linear4bitOp::verify() {
  if (failed(verify4bitBlocksize(*this, getBlocksize())))
    return failure();
  if (!isValidComputeDtype(getComputeDtype()))
    return emitOpError() << "compute_dtype must be f16, bf16 or f32, got "
                         << getComputeDtype();
  if (std::optional<Type> storage = getQuantStorage();
      storage && !isValidQuantStorage(*storage))
    return emitOpError() << "quant_storage must be one of f16, bf16, f32, "
                            "f64, i8, ui8, got "
                         << *storage;
  ArrayRef<int64_t> shape = getShape();
  if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0)
    return emitOpError() << "shape must be [out_features, in_features] with "
                            "positive sizes";
  std::optional<int64_t> product = llvm::checkedMul(shape[0], shape[1]);
  if (!product)
    return emitOpError() << "shape [" << shape[0] << ", " << shape[1]
                         << "] has more elements than int64_t holds";
  int64_t numElements = *product;
  auto weight = cast<RankedTensorType>(getWeight().getType());
  Type weightElt = weight.getElementType();

  if (isa<FloatType>(weightElt)) {
    // Not yet quantized: the float weight itself.
    if (getAbsmax() || getNestedAbsmax() || getNestedOffset())
      return emitOpError()
             << "absmax and nested state are only valid with a packed weight";
    SmallVector<int64_t> expected(shape);
    if (getConv1d())
      std::swap(expected[0], expected[1]);
    if (weight.getRank() != 2 ||
        !compatibleDim(weight.getDimSize(0), expected[0]) ||
        !compatibleDim(weight.getDimSize(1), expected[1]))
      return emitOpError() << "float weight must have shape [" << expected[0]
                           << ", " << expected[1] << "], got " << weight;
  } else {
    if (!weightElt.isUnsignedInteger(8))
      return emitOpError() << "packed weight must be ui8, got " << weight;
    if (getConv1d())
      return emitOpError() << "a packed weight is always [out, in]; conv1d "
                              "applies only to float weights";
    if (failed(verifyPackedShape(*this, "packed weight", weight, numElements)))
      return failure();
    if (!getAbsmax())
      return emitOpError() << "packed weight requires its absmax operand";
    auto absmax = cast<RankedTensorType>(getAbsmax().getType());
    if (failed(verifyAbsmaxCount(*this, "absmax", absmax, numElements,
                                 getBlocksize())))
      return failure();
    int64_t numBlocks = ceilDiv(numElements, getBlocksize());
    bool nested = getNestedAbsmax() != nullptr;
    if (absmax.getElementType().isF32() && nested)
      return emitOpError()
             << "nested_absmax requires ui8 absmax codes (double quantization)";
    if (absmax.getElementType().isUnsignedInteger(8) && !nested)
      return emitOpError() << "ui8 absmax codes require nested_absmax";
    if (nested != getNestedOffset().has_value())
      return emitOpError()
             << "nested_absmax and nested_offset must be given together";
    if (nested && failed(verifyAbsmaxCount(
                      *this, "nested_absmax",
                      cast<RankedTensorType>(getNestedAbsmax().getType()),
                      numBlocks, /*blocksize=*/256)))
      return failure();
  }
  if (failed(verifyBias(*this, getBias(), shape[0])))
    return failure();
  return verifyLinearShapes(*this, getInput().getType(),
                            getResult().getType(), shape[1], shape[0]);
}

//===----------------------------------------------------------------------===//
// QuantizeRowwiseOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeRowwiseOp::verify() {
  if (failed(verifyThreshold(*this, getThreshold())))
    return failure();
  RankedTensorType input = getInput().getType();
  if (input.getRank() != 2)
    return emitOpError() << "input must be 2-D, got " << input;
  if (getResult().getType().getShape() != input.getShape())
    return emitOpError() << "result shape must equal the input's";
  RankedTensorType stats = getStats().getType();
  if (stats.getRank() != 1 ||
      !compatibleDim(stats.getDimSize(0), input.getDimSize(0)))
    return emitOpError() << "stats must have one entry per row ("
                         << input.getDimSize(0) << "), got " << stats;
  return success();
}

//===----------------------------------------------------------------------===//
// OutlierSplitOp
//===----------------------------------------------------------------------===//

LogicalResult OutlierSplitOp::verify() {
  APFloat threshold = getThreshold();
  if (threshold.isNaN() || threshold.isNegative() || threshold.isZero())
    return emitOpError() << "threshold must be > 0 (0 disables outliers)";
  RankedTensorType input = getInput().getType();
  if (input.getRank() != 2)
    return emitOpError() << "input must be 2-D, got " << input;
  RankedTensorType columns = getColumns().getType();
  RankedTensorType outliers = getOutliers().getType();
  if (columns.getRank() != 1)
    return emitOpError() << "columns must be 1-D, got " << columns;
  if (outliers.getRank() != 2)
    return emitOpError() << "outliers must be 2-D, got " << outliers;
  if (outliers.getElementType() != input.getElementType())
    return emitOpError() << "outliers must keep the input element type";
  if (!compatibleDim(outliers.getDimSize(0), input.getDimSize(0)))
    return emitOpError() << "outliers must have " << input.getDimSize(0)
                         << " rows, got " << outliers.getDimSize(0);
  if (!compatibleDim(outliers.getDimSize(1), columns.getDimSize(0)))
    return emitOpError() << "outliers must have one column per outlier index";
  if (!ShapedType::isDynamic(columns.getDimSize(0)) &&
      !ShapedType::isDynamic(input.getDimSize(1)) &&
      columns.getDimSize(0) > input.getDimSize(1))
    return emitOpError() << "more outlier columns than input columns";
  return success();
}

//===----------------------------------------------------------------------===//
// Int8MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult Int8MatmulOp::verify() {
  RankedTensorType lhs = getLhs().getType(), rhs = getRhs().getType();
  RankedTensorType result = getResult().getType();
  if (lhs.getRank() != 2 || rhs.getRank() != 2 || result.getRank() != 2)
    return emitOpError() << "operands and result must be 2-D";
  if (!compatibleDim(lhs.getDimSize(1), rhs.getDimSize(1)))
    return emitOpError() << "contraction sizes differ: " << lhs.getDimSize(1)
                         << " vs " << rhs.getDimSize(1);
  if (!compatibleDim(result.getDimSize(0), lhs.getDimSize(0)) ||
      !compatibleDim(result.getDimSize(1), rhs.getDimSize(0)))
    return emitOpError() << "result must have shape [" << lhs.getDimSize(0)
                         << ", " << rhs.getDimSize(0) << "]";
  return success();
}

OpFoldResult Int8MatmulOp::fold(FoldAdaptor) {
  // x · 0ᵀ and 0 · xᵀ are exactly 0 in integer arithmetic.
  if (!getResult().getType().hasStaticShape())
    return {};
  if (matchPattern(getLhs(), m_Zero()) || matchPattern(getRhs(), m_Zero()))
    return DenseElementsAttr::get(getResult().getType(),
                                  APInt::getZero(32));
  return {};
}

//===----------------------------------------------------------------------===//
// DequantizeInt8Op
//===----------------------------------------------------------------------===//

LogicalResult DequantizeInt8Op::verify() {
  RankedTensorType input = getInput().getType();
  if (input.getRank() != 2)
    return emitOpError() << "input must be 2-D, got " << input;
  RankedTensorType rows = getRowStats().getType();
  RankedTensorType cols = getColStats().getType();
  if (rows.getRank() != 1 || !compatibleDim(rows.getDimSize(0),
                                            input.getDimSize(0)))
    return emitOpError() << "row_stats must have one entry per row ("
                         << input.getDimSize(0) << "), got " << rows;
  if (cols.getRank() != 1 || !compatibleDim(cols.getDimSize(0),
                                            input.getDimSize(1)))
    return emitOpError() << "col_stats must have one entry per column ("
                         << input.getDimSize(1) << "), got " << cols;
  if (failed(verifyBias(*this, getBias(), input.getDimSize(1))))
    return failure();
  if (getResult().getType().getShape() != input.getShape())
    return emitOpError() << "result shape must equal the input's";
  return success();
}

//===----------------------------------------------------------------------===//
// Quantize4bitOp / Dequantize4bitOp
//===----------------------------------------------------------------------===//

LogicalResult Quantize4bitOp::verify() {
  if (failed(verify4bitBlocksize(*this, getBlocksize())))
    return failure();
  std::optional<int64_t> n = staticNumElements(getInput().getType());
  if (failed(verifyPackedShape(*this, "packed result", getPacked().getType(),
                               n)))
    return failure();
  return verifyAbsmaxCount(*this, "absmax", getAbsmax().getType(), n,
                           getBlocksize());
}

LogicalResult Dequantize4bitOp::verify() {
  if (failed(verify4bitBlocksize(*this, getBlocksize())))
    return failure();
  std::optional<int64_t> n = staticNumElements(getResult().getType());
  if (failed(verifyPackedShape(*this, "packed operand", getPacked().getType(),
                               n)))
    return failure();
  return verifyAbsmaxCount(*this, "absmax", getAbsmax().getType(), n,
                           getBlocksize());
}

//===----------------------------------------------------------------------===//
// QuantizeBlockwiseOp / DequantizeBlockwiseOp
//===----------------------------------------------------------------------===//

namespace {
LogicalResult verifyBlockwise(Operation *op, int64_t blocksize,
                              RankedTensorType data, RankedTensorType codes,
                              RankedTensorType absmax) {
  if (!isValidBlockwiseBlocksize(blocksize))
    return op->emitOpError() << "blocksize " << blocksize
                             << " is not one bitsandbytes accepts for 8-bit "
                                "blockwise quantization (64, 128, ..., 4096)";
  if (codes.getShape() != data.getShape())
    return op->emitOpError() << "codes must have the shape of the data";
  return verifyAbsmaxCount(op, "absmax", absmax, staticNumElements(data),
                           blocksize);
}
} // namespace

LogicalResult QuantizeBlockwiseOp::verify() {
  return verifyBlockwise(*this, getBlocksize(), getInput().getType(),
                         getResult().getType(), getAbsmax().getType());
}

LogicalResult DequantizeBlockwiseOp::verify() {
  return verifyBlockwise(*this, getBlocksize(), getResult().getType(),
                         getInput().getType(), getAbsmax().getType());
}
