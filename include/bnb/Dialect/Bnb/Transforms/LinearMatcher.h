//===- LinearMatcher.h - recognize linear layers in the model graph -*- C++ -*-===//
//
// A linear layer in the model graph is a linalg.matmul whose right operand is
// a weight, in the nn.Linear form x·Wᵀ (transposed indexing map, or a
// linalg.transpose of W feeding a plain matmul) or the GPT-2 Conv1D form x·W,
// accumulating into a zero-filled init and optionally followed by a broadcast
// bias add.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_LINEARMATCHER_H
#define BNB_DIALECT_BNB_TRANSFORMS_LINEARMATCHER_H

#include "bnb/Dialect/Bnb/Utils/WeightRef.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::bnb {

/// A matched linear layer.
struct LinearMatch {
  /// The matmul computing x·Wᵀ or x·W.
  linalg::MatmulOp matmul;
  /// The activation x, [M, K].
  Value input;
  /// The weight as stored: [N, K], or [K, N] when `conv1d`.
  Value weight;
  /// Where the weight comes from.
  WeightRef weightRef;
  /// True for the Conv1D form (weight stored [in, out]).
  bool conv1d = false;
  /// The bias, [N], when the matmul is followed by a bias add of a weight.
  Value bias;
  /// The bias add, when fused.
  linalg::GenericOp biasAdd;
  /// The module name skip lists match against.
  std::string moduleName;

  /// The op whose single result the layer computes (the bias add or the
  /// matmul).
  Operation *getRoot() {
    return biasAdd ? biasAdd.getOperation() : matmul.getOperation();
  }
  /// Output features N.
  int64_t getOutFeatures() const;
  /// Input features K.
  int64_t getInFeatures() const;
};

/// Matches `matmul` as a linear layer, or returns std::nullopt (for example a
/// matmul of two activations).
std::optional<LinearMatch> matchLinear(linalg::MatmulOp matmul,
                                       SymbolTableCollection &symbols);

/// True when the value produced by `root` reaches a func.return through
/// reshapes and casts only, i.e. the layer is the model's output embedding.
bool feedsFunctionResult(Operation *root);

/// How many times each function loads each global, from one walk of the
/// module: the tie check of every linear reads it instead of walking the
/// module's symbol uses again (a 7B graph has hundreds of linears).
class GlobalLoadCounts {
public:
  explicit GlobalLoadCounts(Operation *symbolTableOp);
  /// Uses of `global` inside `func`.
  unsigned count(Operation *func, StringAttr global) const;

private:
  DenseMap<std::pair<Operation *, Attribute>, unsigned> counts;
};

/// True when the weight is shared with another use (tied weights).
bool isTiedWeight(const LinearMatch &match, const GlobalLoadCounts &loads);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_TRANSFORMS_LINEARMATCHER_H
