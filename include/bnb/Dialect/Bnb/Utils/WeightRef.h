//===- WeightRef.h - where a weight value comes from ---------------*- C++ -*-===//
//
// A weight in the model graph is either loaded from an ml_program.global
// (named by its checkpoint key; external, or with an inline value) or an
// inline arith.constant (small test graphs). This header identifies them.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_UTILS_WEIGHTREF_H
#define BNB_DIALECT_BNB_UTILS_WEIGHTREF_H

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/Value.h"

#include <optional>
#include <string>

namespace mlir::bnb {

/// The attribute that names an inline constant weight by checkpoint key.
constexpr StringLiteral kWeightNameAttr = "bnb.name";
/// The attribute that names the module of a linalg.matmul explicitly (for
/// example a tied lm_head whose weight is the embedding table).
constexpr StringLiteral kModuleNameAttr = "bnb.module";
/// The argument attribute that names an externalized weight by its key.
constexpr StringLiteral kWeightArgAttr = "bnb.weight";
/// The module attribute that names the weights file.
constexpr StringLiteral kWeightsFileAttr = "bnb.weights";
/// The argument (and result) attribute of a KV cache that prefill/decode
/// update in place.
constexpr StringLiteral kKvCacheAttr = "bnb.kv_cache";
/// The argument attribute (an integer V) of an input that holds token ids,
/// which must lie in [0, V); bnb-run refuses others, as transformers does.
constexpr StringLiteral kVocabSizeAttr = "bnb.vocab_size";

/// A value that is a model weight.
struct WeightRef {
  /// The op producing the weight: ml_program.global_load_const or
  /// arith.constant; null for an externalized weight argument.
  Operation *producer = nullptr;
  /// The entry-point argument tagged `bnb.weight` after
  /// bnb-externalize-weights.
  BlockArgument argument;
  /// The global it was loaded from, if any.
  ml_program::GlobalOp global;
  /// The checkpoint key, e.g. "model.layers.0.mlp.up_proj.weight"; empty for
  /// an unnamed inline constant.
  std::string key;

  /// True when the bytes live in the weights file (#ml_program.extern, or an
  /// externalized argument).
  bool isExternal();
  /// The inline value of a constant or of a global with a value.
  ElementsAttr getInlineValue();
};

/// Returns the weight `value` is, or std::nullopt when it is an activation.
std::optional<WeightRef> getWeightRef(Value value,
                                      SymbolTableCollection &symbols);

/// The module name for a weight key: the key without its trailing ".weight"
/// (transformers' module path, what skip lists match against).
std::string moduleNameForKey(StringRef key);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_UTILS_WEIGHTREF_H
