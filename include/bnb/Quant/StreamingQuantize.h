//===- StreamingQuantize.h - layer state dicts in pieces --------*- C++ -*-===//
//
// Quantizes one linear weight the way quantizeLinear4bit/quantizeLinear8bit
// plus linear4bitTensors/linear8bitTensors do, with the same bytes, but
// hands the large packed weight to a sink in pieces of about a megabyte as
// soon as each is quantized: no weight-sized buffer is allocated, the pieces
// are written from cache, and the pool quantizes the next pieces while the
// calling thread writes the current one.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_STREAMINGQUANTIZE_H
#define BNB_QUANT_STREAMINGQUANTIZE_H

#include "bnb/Support/DType.h"
#include "bnb/Quant/QuantType.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>

namespace llvm {
class ThreadPoolInterface;
} // namespace llvm

namespace bnb::quant {

/// Receives the bytes of a state-dict tensor `key`, possibly in several
/// pieces that come in order (SafetensorsWriter::writePart fits). Called on
/// the thread that called the streaming function only.
using TensorPieceSink = llvm::function_ref<llvm::Error(
    llvm::StringRef key, llvm::ArrayRef<uint8_t> piece)>;

/// The Linear4bit state dict of the [shape] weight `w` (F16, BF16, F32 or
/// any dtype quantize4bit takes) under `prefix`, every tensor of
/// linear4bitTensors with the same bytes, the packed weight first and in
/// pieces. With `doubleQuant`, `expectedOffset` (when given) must equal the
/// nested offset bit for bit: the header of the file being written was laid
/// out with it.
llvm::Error
streamLinear4bit(const void *w, DType dt, llvm::ArrayRef<int64_t> shape,
                 QuantType qt, int64_t blocksize, bool doubleQuant,
                 DType quantStorage, std::optional<float> expectedOffset,
                 llvm::StringRef prefix, llvm::ThreadPoolInterface *pool,
                 TensorPieceSink sink);

/// The Linear8bitLt state dict (weight in pieces, SCB, weight_format) of the
/// [rows, cols] weight `w` under `prefix`, the bytes of quantizeLinear8bit
/// plus linear8bitTensors.
llvm::Error streamLinear8bit(const void *w, DType dt, int64_t rows,
                             int64_t cols, llvm::StringRef prefix,
                             llvm::ThreadPoolInterface *pool,
                             TensorPieceSink sink);

} // namespace bnb::quant

#endif // BNB_QUANT_STREAMINGQUANTIZE_H
