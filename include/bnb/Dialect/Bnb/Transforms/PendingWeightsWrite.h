//===- PendingWeightsWrite.h - bnb-quantize-weights, written later -*- C++ -*-===//
//
// bnb-quantize-weights plans every layer and rewrites the IR before it
// writes a byte, and nothing after it reads the weights file: the lowering
// and code generation depend on the rewritten IR alone. A caller that builds
// the pass with a PendingWeightsWrite slot gets the writing handed back
// instead of done, so that it can write the file on one thread while it
// compiles on another (bnb-compile does).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_PENDINGWEIGHTSWRITE_H
#define BNB_DIALECT_BNB_TRANSFORMS_PENDINGWEIGHTSWRITE_H

#include "mlir/IR/Location.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Pass/Pass.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::bnb {

class WeightWriter;
struct BnbQuantizeWeightsOptions;

/// A weights file that bnb-quantize-weights declared but did not write; the
/// module's globals and `bnb.weights` already refer to it.
class PendingWeightsWrite {
public:
  /// The layer ops (their locations and names, in declaration order) that
  /// write errors name.
  struct LayerSite {
    /// Where the layer op is.
    Location loc;
    /// The op's name, e.g. "bnb.linear_4bit".
    OperationName name;
  };

  /// The writing `writer` has declared; `module` locates errors about no
  /// layer in particular.
  PendingWeightsWrite(std::unique_ptr<WeightWriter> writer,
                      std::vector<LayerSite> layers, Location module);
  /// Waits for nothing: write() must have returned, or never been called.
  ~PendingWeightsWrite();

  /// Writes the file. Touches no IR: safe to call on another thread while
  /// the module is compiled.
  llvm::Error write();

  /// Makes a write() running on another thread stop soon with an error.
  void cancel();

  /// The path of the file write() creates.
  llvm::StringRef getOutputPath() const;

  /// Emits an error of write() as the pass would have: at the layer op it
  /// is about, else at the module. Call on the thread that owns the IR.
  void emit(llvm::Error error) const;

private:
  std::unique_ptr<WeightWriter> writer;
  std::vector<LayerSite> layers;
  Location module;
};

/// bnb-quantize-weights with `options` that, when the module needs a
/// weights file, stores its writing in `*pending` instead of writing it
/// (inline constant weights are still quantized by the pass itself).
std::unique_ptr<Pass>
createBnbQuantizeWeights(const BnbQuantizeWeightsOptions &options,
                         std::unique_ptr<PendingWeightsWrite> *pending);

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_TRANSFORMS_PENDINGWEIGHTSWRITE_H
