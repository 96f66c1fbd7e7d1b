//===- LinearMatcher.cpp - recognize linear layers in the model graph ------===//

#include "bnb/Dialect/Bnb/Transforms/LinearMatcher.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::bnb;

int64_t LinearMatch::getOutFeatures() const {
  auto type = cast<RankedTensorType>(weight.getType());
  return type.getDimSize(conv1d ? 1 : 0);
}

int64_t LinearMatch::getInFeatures() const {
  auto type = cast<RankedTensorType>(weight.getType());
  return type.getDimSize(conv1d ? 0 : 1);
}

namespace {
enum class MatmulForm { XWt, XW, Other };

/// Classifies the indexing maps of a matmul.
MatmulForm classify(linalg::MatmulOp matmul) {
  MLIRContext *ctx = matmul.getContext();
  AffineExpr m, n, k;
  bindDims(ctx, m, n, k);
  auto map = [&](ArrayRef<AffineExpr> results) {
    return AffineMap::get(3, 0, results, ctx);
  };
  SmallVector<AffineMap> maps = matmul.getIndexingMapsArray();
  if (maps.size() != 3 || maps[0] != map({m, k}) || maps[2] != map({m, n}))
    return MatmulForm::Other;
  if (maps[1] == map({n, k}))
    return MatmulForm::XWt;
  if (maps[1] == map({k, n}))
    return MatmulForm::XW;
  return MatmulForm::Other;
}

/// True when `init` is a tensor of zeros: a zero fill or a zero constant.
bool isZeroInit(Value init) {
  if (matchPattern(init, m_AnyZeroFloat()) || matchPattern(init, m_Zero()))
    return true;
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  Value value = fill.getInputs()[0];
  return matchPattern(value, m_AnyZeroFloat()) || matchPattern(value, m_Zero());
}

/// Matches `linalg.generic {y[i,j] + b[j]}` consuming the matmul result `y`
/// and returns the bias operand.
Value matchBiasAdd(linalg::GenericOp generic, Value matmulResult) {
  if (generic.getNumDpsInputs() != 2 || generic.getNumDpsInits() != 1 ||
      generic.getNumResults() != 1 || generic.getNumParallelLoops() != 2 ||
      generic.getNumLoops() != 2)
    return {};
  MLIRContext *ctx = generic.getContext();
  AffineExpr i, j;
  bindDims(ctx, i, j);
  AffineMap identity = AffineMap::get(2, 0, {i, j}, ctx);
  AffineMap row = AffineMap::get(2, 0, {j}, ctx);
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  unsigned yIndex = generic.getDpsInputs()[0] == matmulResult ? 0 : 1;
  unsigned bIndex = 1 - yIndex;
  if (generic.getDpsInputs()[yIndex] != matmulResult ||
      maps[yIndex] != identity || maps[bIndex] != row || maps[2] != identity)
    return {};
  Block &body = generic.getRegion().front();
  if (body.getOperations().size() != 2)
    return {};
  auto add = dyn_cast<arith::AddFOp>(body.front());
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!add || !yield || yield.getNumOperands() != 1 ||
      yield.getOperand(0) != add.getResult())
    return {};
  Value lhs = add.getLhs(), rhs = add.getRhs();
  Value yArg = body.getArgument(yIndex), bArg = body.getArgument(bIndex);
  if (!((lhs == yArg && rhs == bArg) || (lhs == bArg && rhs == yArg)))
    return {};
  if (generic.getResult(0).getType() != matmulResult.getType())
    return {};
  return generic.getDpsInputs()[bIndex];
}
} // namespace

std::optional<LinearMatch> mlir::bnb::matchLinear(linalg::MatmulOp matmul,
                                                  SymbolTableCollection &symbols) {
  if (!matmul.hasPureTensorSemantics() || matmul.getNumDpsInputs() != 2 ||
      matmul->getNumResults() != 1)
    return std::nullopt;
  MatmulForm form = classify(matmul);
  if (form == MatmulForm::Other)
    return std::nullopt;

  LinearMatch match;
  match.matmul = matmul;
  match.input = matmul.getDpsInputs()[0];
  Value rhs = matmul.getDpsInputs()[1];
  if (form == MatmulForm::XWt) {
    match.weight = rhs;
  } else if (auto transpose = rhs.getDefiningOp<linalg::TransposeOp>();
             transpose && transpose.getPermutation() == ArrayRef<int64_t>{1, 0} &&
             transpose.hasPureTensorSemantics()) {
    match.weight = transpose.getInput();
  } else {
    match.weight = rhs;
    match.conv1d = true;
  }
  std::optional<WeightRef> weightRef = getWeightRef(match.weight, symbols);
  if (!weightRef)
    return std::nullopt;
  match.weightRef = *weightRef;

  auto inputType = dyn_cast<RankedTensorType>(match.input.getType());
  auto weightType = dyn_cast<RankedTensorType>(match.weight.getType());
  auto resultType = cast<RankedTensorType>(matmul->getResult(0).getType());
  if (!inputType || !weightType || weightType.getRank() != 2 ||
      !weightType.hasStaticShape() ||
      !isa<FloatType>(inputType.getElementType()) ||
      !isa<FloatType>(weightType.getElementType()) ||
      inputType.getElementType() != resultType.getElementType())
    return std::nullopt;
  if (!isZeroInit(matmul.getDpsInits()[0]))
    return std::nullopt;

  // Fuse a following bias add of a weight.
  Value result = matmul->getResult(0);
  if (result.hasOneUse()) {
    if (auto generic = dyn_cast<linalg::GenericOp>(*result.user_begin())) {
      Value bias = matchBiasAdd(generic, result);
      if (bias && getWeightRef(bias, symbols)) {
        match.bias = bias;
        match.biasAdd = generic;
      }
    }
  }

  if (auto name = matmul->getAttrOfType<StringAttr>(kModuleNameAttr))
    match.moduleName = name.str();
  else
    match.moduleName = moduleNameForKey(match.weightRef.key);
  return match;
}

bool mlir::bnb::feedsFunctionResult(Operation *root) {
  Operation *op = root;
  while (op->getNumResults() == 1 && op->getResult(0).hasOneUse()) {
    Operation *user = *op->getResult(0).user_begin();
    if (isa<func::ReturnOp>(user))
      return true;
    if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::CastOp,
             tensor::ReshapeOp>(user))
      return false;
    op = user;
  }
  return false;
}

GlobalLoadCounts::GlobalLoadCounts(Operation *symbolTableOp) {
  // The uses inside the symbol table's regions (the Operation overload
  // stops at `symbolTableOp` itself, being a symbol table).
  for (Region &region : symbolTableOp->getRegions()) {
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(&region);
    if (!uses)
      continue;
    for (const SymbolTable::SymbolUse &use : *uses)
      ++counts[{use.getUser()->getParentOfType<FunctionOpInterface>(),
                use.getSymbolRef().getRootReference()}];
  }
}

unsigned GlobalLoadCounts::count(Operation *func, StringAttr global) const {
  return counts.lookup({func, global});
}

bool mlir::bnb::isTiedWeight(const LinearMatch &match,
                             const GlobalLoadCounts &loads) {
  // Another use of the loaded value (an embedding gather, say) ties it.
  for (Operation *user : match.weight.getUsers())
    if (user != match.matmul && !isa<linalg::TransposeOp>(user))
      return true;
  if (!match.weightRef.global)
    return false;
  // So does another load of the same global in the same function. The
  // entry points of one model (forward, prefill, decode) each load every
  // weight once: that is one parameter seen three times, not a tie.
  auto func = match.matmul->getParentOfType<FunctionOpInterface>();
  ml_program::GlobalOp global = match.weightRef.global;
  return loads.count(func, global.getSymNameAttr()) > 1;
}
