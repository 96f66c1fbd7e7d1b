//===- MemoryReport.h - weight memory of a model graph -----------*- C++ -*-===//
//
// The weight memory per linear layer and in total, as an analysis: the
// bnb-memory-report pass prints it, and bnb-compile's artifact writer puts
// its totals into the manifest's memory plan, both from the same object and
// without a file in between. The footprint follows transformers'
// get_memory_footprint (parameters plus buffers: a 4-bit layer counts its
// packed bytes, an int8 layer N·K bytes, plus its bias); the quantization
// state it leaves out (absmax, SCB, code tables, nested state) is reported
// beside it so that the total is what a checkpoint holds.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_MEMORYREPORT_H
#define BNB_DIALECT_BNB_TRANSFORMS_MEMORYREPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::bnb {

/// The memory of one layer, in bytes, by category.
struct LayerMemory {
  std::string module;
  std::string kind;
  int64_t outFeatures = 0, inFeatures = 0;
  int64_t weight = 0; ///< packed 4-bit, int8, or 16-bit weight
  int64_t absmax = 0; ///< absmax + quant_map (4-bit), SCB + weight_format
  int64_t nested = 0; ///< nested_absmax + nested_quant_map
  int64_t bias = 0;
  bool skipped = false;
  bool projected = false; ///< not quantized yet: sizes after quantization

  /// What get_memory_footprint counts for the layer.
  int64_t footprint() const { return weight + bias; }
  /// Everything the layer stores, quantization state included.
  int64_t total() const { return weight + absmax + nested + bias; }
};

/// The report's sums.
struct MemoryTotals {
  int64_t packed = 0, absmax = 0, nested = 0, skipped = 0, bias = 0, rest = 0,
          fp16 = 0;
  /// get_memory_footprint of the whole model.
  int64_t footprint() const { return packed + skipped + bias + rest; }
  /// The footprint plus the quantization state.
  int64_t total() const { return footprint() + absmax + nested; }
};

/// The weight memory of a module: computed once when constructed (an MLIR
/// analysis: `getAnalysis<MemoryReport>()` in a pass, or constructed
/// directly on a module). Sizes beyond the report's int64_t range are an
/// error reported at the offending op; then failed() is true.
class MemoryReport {
public:
  explicit MemoryReport(Operation *module);

  /// True when the module could not be measured (the error was emitted).
  bool failed() const { return hasFailed; }
  /// One entry per linear layer (once per module name, however many entry
  /// points use it), in graph order.
  ArrayRef<LayerMemory> layers() const { return layerList; }
  /// The sums over the layers and the other weights.
  MemoryTotals totals() const;
  /// The human-readable table bnb-memory-report prints.
  void printTable(llvm::raw_ostream &os) const;
  /// The JSON form: {"layers": [...], "totals": {...}}.
  llvm::json::Value toJson() const;
  /// The totals alone as JSON, as the manifest's memory plan holds them.
  llvm::json::Object totalsJson() const;

private:
  std::vector<LayerMemory> layerList;
  int64_t rest = 0; ///< weights that belong to no linear layer
  bool hasFailed = false;
};

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_TRANSFORMS_MEMORYREPORT_H
