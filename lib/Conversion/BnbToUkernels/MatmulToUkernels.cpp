//===- MatmulToUkernels.cpp - float linears with f32 accumulation ----------===//
//
// A float linalg.matmul of the model-graph contract (x·W for Conv1D, x·Wᵀ
// through indexing maps for nn.Linear) -- the linears that stay unquantized,
// lm_head by default -- becomes one microkernel call that accumulates in f32
// and rounds once to the output type: what PyTorch's CPU linear and cuBLAS
// compute, where linalg's own semantics would accumulate in the output type
// (f16 accumulation loses ~1e-2 of relative accuracy at K = 4096).
//
//===----------------------------------------------------------------------===//

#include "Patterns.h"
#include "UkernelCall.h"

#include "bnb/Dialect/Bnb/Utils/TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::bnb;

namespace {
/// 1 for x·Wᵀ maps, 0 for the default x·W maps, -1 for anything else.
int64_t transposedFlag(linalg::MatmulOp op) {
  if (!op.hasUserDefinedMaps())
    return 0;
  MLIRContext *ctx = op.getContext();
  AffineExpr m, n, k;
  bindDims(ctx, m, n, k);
  SmallVector<AffineMap> transposed = {AffineMap::get(3, 0, {m, k}, ctx),
                                       AffineMap::get(3, 0, {n, k}, ctx),
                                       AffineMap::get(3, 0, {m, n}, ctx)};
  SmallVector<AffineMap> plain = {AffineMap::get(3, 0, {m, k}, ctx),
                                  AffineMap::get(3, 0, {k, n}, ctx),
                                  AffineMap::get(3, 0, {m, n}, ctx)};
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps == transposed)
    return 1;
  if (maps == plain)
    return 0;
  return -1;
}

/// True when `init` is a linalg.fill of +0.0 (the contract's zero init).
bool isZeroFill(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  FloatAttr value;
  return matchPattern(fill.getInputs()[0], m_Constant(&value)) &&
         value.getValue().isPosZero();
}

struct MatmulToUkernel : public OpRewritePattern<linalg::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics())
      return rewriter.notifyMatchFailure(op, "not on tensors");
    Value x = op.getInputs()[0], w = op.getInputs()[1];
    Value init = op.getOutputs()[0];
    auto xType = cast<RankedTensorType>(x.getType());
    auto wType = cast<RankedTensorType>(w.getType());
    auto outType = cast<RankedTensorType>(init.getType());
    if (!xType.hasStaticShape() || !wType.hasStaticShape() ||
        !outType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    if (ukernels::dtypeCode(xType.getElementType()) < 0 ||
        ukernels::dtypeCode(outType.getElementType()) < 0)
      return rewriter.notifyMatchFailure(op, "not a float matmul");
    StringRef symbol = ukernels::matmulSymbol(wType.getElementType());
    if (symbol.empty())
      return rewriter.notifyMatchFailure(op, "weight is not f32/f16/bf16");
    int64_t transposed = transposedFlag(op);
    if (transposed < 0)
      return rewriter.notifyMatchFailure(op, "not x·W or x·Wᵀ");
    auto module = op->getParentOfType<ModuleOp>();
    if (!module || !ukernels::symbolAvailable(module, symbol))
      return rewriter.notifyMatchFailure(op, "microkernel symbol taken");

    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();
    Value xf = castFloatTensor(rewriter, loc, x, f32);
    Value flag = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getI64IntegerAttr(
                                               transposed));
    Value acc = ukernels::callUkernel(rewriter, loc, module, symbol,
                                      outType.clone(f32), {xf, w}, {flag});
    Type outElt = outType.getElementType();
    Value result;
    if (isZeroFill(init)) {
      result = castFloatTensor(rewriter, loc, acc, outElt);
    } else {
      AffineMap id = rewriter.getMultiDimIdentityMap(2);
      result = elementwise2D(
          rewriter, loc, outType, {acc, init}, {id, id},
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value sum = arith::AddFOp::create(
                b, l, castFloatScalar(b, l, args[1], f32), args[0]);
            return castFloatScalar(b, l, sum, outElt);
          });
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void ukernels::populateMatmulPatterns(RewritePatternSet &patterns) {
  patterns.add<MatmulToUkernel>(patterns.getContext());
}
