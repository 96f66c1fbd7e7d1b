//===- BnbStateDict.h - bitsandbytes' serialized layer format ---*- C++ -*-===//
//
// The state-dict tensors bitsandbytes (and transformers) save for quantized
// linear layers, byte for byte (bnb-numerics §1.10, §5):
//
// Linear4bit, in this order:
//   {p}weight                  quant_storage [(n+1) // (2 * itemsize), 1]
//   {p}weight.absmax           F32 [nblocks], or U8 [nblocks] when nested
//   {p}weight.quant_map        F32 [16]
//   {p}weight.nested_absmax    F32 [ceil(nblocks / 256)]       (nested only)
//   {p}weight.nested_quant_map F32 [256]                       (nested only)
//   {p}weight.quant_state.bitsandbytes__nf4 (or __fp4)  U8 [len(json)]
// Linear8bitLt:
//   {p}weight  I8 [out, in]   {p}SCB  F32 [out]   {p}weight_format  U8 [] = 0
//
// `prefix` is prepended verbatim: pass the module name followed by a dot
// ("model.layers.0.mlp.down_proj."), or "" for a bare layer.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_BNBSTATEDICT_H
#define BNB_QUANT_BNBSTATEDICT_H

#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/DType.h"
#include "bnb/Support/Safetensors.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace llvm {
class ThreadPoolInterface;
} // namespace llvm

namespace bnb::quant {

/// `v` as Python's repr() prints a float, which is what json.dumps writes:
/// the shortest digits that round-trip, fixed notation for decimal exponents
/// -4 <= e < 16 ("4.0", "0.0001", "1234.5"), otherwise "1e-05", "1.5e+16";
/// "NaN", "Infinity", "-Infinity" for non-finite values (json.dumps'
/// spelling).
std::string pythonFloatRepr(double v);

/// The non-tensor fields of a 4-bit QuantState.
struct QuantStateInfo {
  QuantType quantType = QuantType::NF4;
  int64_t blocksize = 64;
  /// The dtype of the weight before quantization.
  DType dtype = DType::F16;
  llvm::SmallVector<int64_t, 4> shape;
  /// The double-quantization offset; present iff the state is nested.
  std::optional<float> nestedOffset;
  int64_t nestedBlocksize = kNestedBlocksize;
  DType nestedDtype = DType::F32;
};

/// The JSON blob of `weight.quant_state.bitsandbytes__*`, byte-exact with
/// Python's json.dumps(QuantState.as_dict(packed=True) fields): keys
/// quant_type, blocksize, dtype, shape, and when nested nested_blocksize
/// (256), nested_dtype ("float32"), nested_offset (the f32 offset widened to
/// double, in pythonFloatRepr form).
std::string quantStateJson(QuantType qt, int64_t blocksize, DType originalDtype,
                           llvm::ArrayRef<int64_t> shape,
                           std::optional<float> nestedOffset);

/// Parses and validates a quant_state blob: known quant type, valid 4-bit
/// blocksize, a floating dtype, a shape of non-negative integers, and either
/// none or all of the nested fields (nested_blocksize 256, nested_dtype
/// float32, a numeric nested_offset; NaN and Infinity are accepted as
/// json.dumps writes them). Unknown keys are ignored, as bitsandbytes does.
llvm::Expected<QuantStateInfo> parseQuantStateJson(llvm::StringRef json);

/// "weight.quant_state.bitsandbytes__nf4" or "...__fp4".
std::string quantStateKey(QuantType qt);

/// One state-dict tensor with its bytes.
struct StateTensor {
  std::string key;
  DType dtype = DType::U8;
  llvm::SmallVector<int64_t, 4> shape;
  std::vector<uint8_t> bytes;
};

/// A quantized 4-bit weight with everything its state dict needs.
struct Quantized4bit {
  QuantType quantType = QuantType::NF4;
  int64_t blocksize = 64;
  /// The dtype and shape of the weight before quantization.
  DType dtype = DType::F16;
  llvm::SmallVector<int64_t, 4> shape;
  /// The dtype the packed bytes are stored as (bnb_4bit_quant_storage).
  DType quantStorage = DType::U8;
  std::vector<uint8_t> packed;
  /// Per-block absmax (always filled, also when nested).
  std::vector<float> absmax;
  /// The double-quantized absmax, when compress_statistics is on.
  std::optional<NestedAbsmax> nested;

  /// The description of a weight about to be quantized: everything but the
  /// packed bytes and the statistics.
  static Quantized4bit describe(QuantType qt, int64_t blocksize, DType dt,
                                llvm::ArrayRef<int64_t> shape,
                                DType quantStorage) {
    Quantized4bit q;
    q.quantType = qt;
    q.blocksize = blocksize;
    q.dtype = dt;
    q.shape.assign(shape.begin(), shape.end());
    q.quantStorage = quantStorage;
    return q;
  }
};

/// True for the quant_storage dtypes transformers accepts (float16, float32,
/// int8, uint8, float64, bfloat16).
bool isValidQuantStorage(DType dt);

/// Quantizes a weight of `shape` and `dt` at `w` like Params4bit: quantize4bit
/// over the flattened weight, then doubleQuantize when `doubleQuant`.
Quantized4bit quantizeLinear4bit(const void *w, DType dt,
                                 llvm::ArrayRef<int64_t> shape, QuantType qt,
                                 int64_t blocksize, bool doubleQuant,
                                 DType quantStorage,
                                 llvm::ThreadPoolInterface *pool = nullptr);

/// The keys, dtypes and shapes of a Linear4bit's tensors in state-dict order
/// (see the file comment); `nestedOffset` is needed because it sets the
/// length of the JSON blob. Fails if the packed size is not a multiple of the
/// quant storage itemsize.
llvm::Expected<std::vector<SafetensorsTensorDecl>>
linear4bitDecls(llvm::StringRef prefix, QuantType qt, int64_t blocksize,
                DType dtype, llvm::ArrayRef<int64_t> shape, DType quantStorage,
                bool nested, std::optional<float> nestedOffset);

/// The tensors of a Linear4bit's state dict, in state-dict order.
llvm::Expected<std::vector<StateTensor>>
linear4bitTensors(llvm::StringRef prefix, const Quantized4bit &q);

/// As above, moving the packed bytes and codes out of `q` instead of copying.
llvm::Expected<std::vector<StateTensor>>
linear4bitTensors(llvm::StringRef prefix, Quantized4bit &&q);

/// An LLM.int8() weight: CB [rows, cols] and SCB [rows].
struct QuantizedInt8 {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int8_t> cb;
  std::vector<float> scb;
};

/// Quantizes a weight like Int8Params._quantize: cast to fp16, then
/// quantizeRowwise with threshold 0.
QuantizedInt8 quantizeLinear8bit(const void *w, DType dt, int64_t rows,
                                 int64_t cols,
                                 llvm::ThreadPoolInterface *pool = nullptr);

/// The keys, dtypes and shapes of a Linear8bitLt's tensors: weight, SCB,
/// weight_format.
std::vector<SafetensorsTensorDecl> linear8bitDecls(llvm::StringRef prefix,
                                                   int64_t rows, int64_t cols);

/// The tensors of a Linear8bitLt's state dict.
std::vector<StateTensor> linear8bitTensors(llvm::StringRef prefix,
                                           const QuantizedInt8 &q);

/// A prequantized Linear4bit read back from a checkpoint.
struct Loaded4bit {
  QuantStateInfo state;
  DType quantStorage = DType::U8;
  /// The packed bytes, packedSize(numel(state.shape)) of them.
  std::vector<uint8_t> packed;
  /// Per-block absmax; reconstructed with reconstructAbsmax when nested.
  std::vector<float> absmax;
  /// The stored nested absmax, when nested.
  std::optional<NestedAbsmax> nested;
};

/// Loads the Linear4bit at `prefix` from `file`, checking every key, dtype
/// and shape against the quant_state blob, and the stored quant maps against
/// the known tables (FP4's index 8 may be either zero).
llvm::Expected<Loaded4bit> loadLinear4bit(const SafetensorsFile &file,
                                          llvm::StringRef prefix);

/// Loads the Linear8bitLt at `prefix`: weight (I8, 2-D), SCB (F32 [rows]),
/// and weight_format when present (a U8 scalar that must be 0, "row"; the
/// legacy tiled formats are rejected as bitsandbytes >= 0.46 does).
llvm::Expected<QuantizedInt8> loadLinear8bit(const SafetensorsFile &file,
                                             llvm::StringRef prefix);

} // namespace bnb::quant

#endif // BNB_QUANT_BNBSTATEDICT_H
