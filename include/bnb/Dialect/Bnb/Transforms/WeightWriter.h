//===- WeightWriter.h - The weights file of bnb-quantize-weights *- C++ -*-===//
//
// The file side of bnb-quantize-weights: opens the input safetensors
// (possibly sharded), reads float weights from the mapping, and writes the
// output file through SafetensorsWriter, quantizing each layer with the
// streaming quantizer on a thread pool and copying every other tensor (plain
// weights, the stored state dict of pre-quantized layers) byte for byte. The
// interface holds no IR: a layer is described by names, dtypes, shapes and
// quantization parameters.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_DIALECT_BNB_TRANSFORMS_WEIGHTWRITER_H
#define BNB_DIALECT_BNB_TRANSFORMS_WEIGHTWRITER_H

#include "bnb/Quant/QuantType.h"
#include "bnb/Support/DType.h"
#include "bnb/Support/Safetensors.h"
#include "bnb/Support/ShardedSafetensors.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Error.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llvm {
class ThreadPoolInterface;
} // namespace llvm

namespace mlir::bnb {

/// One layer whose float weight is quantized into a bitsandbytes state dict.
struct QuantizedLayer {
  /// Name of the float weight tensor in the input file.
  std::string weightKey;
  /// State-dict prefix of the layer, e.g. "model.layers.0.mlp.up_proj.".
  std::string prefix;
  /// Linear4bit (true) or Linear8bitLt (false).
  bool is4bit = false;
  /// The 4-bit code book.
  ::bnb::quant::QuantType quantType = ::bnb::quant::QuantType::NF4;
  /// The 4-bit quantization block size.
  int64_t blocksize = 64;
  /// Whether the 4-bit absmax is quantized again (double quantization).
  bool nested = false;
  /// The dtype the packed 4-bit codes are serialized as.
  ::bnb::DType storage = ::bnb::DType::U8;
  /// The float weight's dtype.
  ::bnb::DType dtype = ::bnb::DType::F16;
  /// The layer's output and input features: the weight is [out, in].
  int64_t outFeatures = 0, inFeatures = 0;
  /// Whether the weight is stored [in, out] (GPT-2 Conv1D) and is transposed
  /// before quantization.
  bool conv1d = false;
  /// The float weight's shape as the module declares it.
  std::vector<int64_t> weightShape;
  /// The double quantization offset (the mean of the absmax), once known.
  std::optional<float> offset;
};

/// Weight bytes in [N, K] row-major order: a view into the mapping, or an
/// owned copy (transposed Conv1D weights, inline constants).
struct WeightBytes {
  /// The bytes.
  llvm::ArrayRef<uint8_t> view;
  /// The owned copy `view` points into, when there is one.
  std::vector<uint8_t> storage;
};

/// Transposes a [rows, cols] matrix of `elemBytes`-byte elements.
std::vector<uint8_t> transposeBytes(llvm::ArrayRef<uint8_t> in, int64_t rows,
                                    int64_t cols, size_t elemBytes);

/// An error about one of the layers given to WeightWriter::declareLayers,
/// by its index there.
class LayerWriteError : public llvm::ErrorInfo<LayerWriteError> {
public:
  /// The ErrorInfo class identifier.
  static char ID;

  /// An error about layer `layer` with `message`.
  LayerWriteError(size_t layer, std::string message)
      : layer(layer), message(std::move(message)) {}

  /// Prints the message.
  void log(llvm::raw_ostream &os) const override;

  /// Not convertible to an error code.
  std::error_code convertToErrorCode() const override;

  /// The layer's index in the declared layers.
  size_t getLayer() const { return layer; }

  /// The error's text.
  llvm::StringRef getMessage() const { return message; }

private:
  size_t layer;
  std::string message;
};

/// Reads the input weights and writes the quantized weights file. Use:
/// openInput, then (for the file) declareLayers, declareCopy and
/// declareCompanion in the order the tensors are to be laid out, then write.
class WeightWriter {
public:
  /// A writer quantizing on up to `numThreads` threads (0: all cores).
  explicit WeightWriter(unsigned numThreads);
  /// Waits for the pool's threads.
  ~WeightWriter();

  /// The pool the quantizers run on.
  llvm::ThreadPoolInterface &getPool() { return *pool; }

  /// Opens the input weights at `path`.
  llvm::Error openInput(llvm::StringRef path);

  /// The path the input was opened with.
  llvm::StringRef getInputPath() const { return inputPath; }

  /// The input tensor called `name`, or null; the input must be open.
  const ::bnb::SafetensorsTensor *lookup(llvm::StringRef name) const;

  /// Computes the double quantization offset of `layer`, whose float weight
  /// must be in the input, and releases the mapped pages.
  float computeNestedOffset(const QuantizedLayer &layer);

  /// Resolves the output path (`outputPath`, or the input's name with
  /// `.bnb.safetensors` when empty), refusing to overwrite the input, and
  /// declares the state dicts of `layers` (errors are LayerWriteError).
  llvm::Error declareLayers(llvm::StringRef outputPath,
                            std::vector<QuantizedLayer> layers);

  /// Declares the input tensor `name`, which must exist, to be copied as it
  /// is; false when that name is already declared.
  bool declareCopy(llvm::StringRef name);

  /// Declares the input tensor `name` to be copied when it exists and no
  /// tensor of that name is declared yet.
  void declareCompanion(llvm::StringRef name);

  /// Writes every declared tensor to a temporary file renamed to the output
  /// on success; a failure to quantize a layer is a LayerWriteError.
  llvm::Error write();

  /// The resolved output path.
  llvm::StringRef getOutputPath() const { return outputPath; }

  /// Makes a write() running on another thread stop at its next piece with
  /// an error (the caller gave up on the file).
  void cancel() { cancelled.store(true, std::memory_order_relaxed); }

private:
  /// The float weight of `layer` in [N, K] order, read from the mapping.
  llvm::Expected<WeightBytes> readForWrite(const QuantizedLayer &layer);

  std::unique_ptr<llvm::ThreadPoolInterface> pool;
  std::optional<::bnb::ShardedSafetensors> input;
  std::string inputPath, outputPath;
  std::vector<QuantizedLayer> layers;
  std::vector<::bnb::SafetensorsTensorDecl> decls;
  llvm::StringSet<> declared;
  std::vector<const ::bnb::SafetensorsTensor *> copies, companions;
  std::atomic<bool> cancelled{false};
};

} // namespace mlir::bnb

#endif // BNB_DIALECT_BNB_TRANSFORMS_WEIGHTWRITER_H
