//===- Manifest.h - the manifest.json of a compiled artifact -------*- C++ -*-===//
//
// An artifact NAME.bnb/ holds manifest.json, model.so and
// weights.safetensors. The manifest describes the target, the entry points
// and their tensor signatures, the quantization config, the weights, a
// memory plan and checksums (docs/artifact.md). This header only needs
// LLVMSupport so that bnb-run can link it statically.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TARGET_MANIFEST_H
#define BNB_TARGET_MANIFEST_H

#include "bnb/Support/DType.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bnb {

/// The manifest format this build writes and reads.
constexpr int64_t kArtifactFormatVersion = 2;

/// A tensor in an entry-point signature.
struct TensorSpec {
  std::string name;
  ::bnb::DType dtype = ::bnb::DType::F32;
  llvm::SmallVector<int64_t, 4> shape;
  /// An input that is state the entry point updates in place (a KV cache):
  /// the caller keeps the buffer across calls; it is no output.
  bool kvCache = false;
  /// An input of token ids: each must lie in [0, vocabSize).
  std::optional<int64_t> vocabSize;

  /// Number of elements (parseManifest and the compiler guarantee that it
  /// and numBytes() fit in int64_t).
  int64_t numElements() const;
  /// Number of bytes.
  int64_t numBytes() const { return numElements() * ::bnb::dtypeSize(dtype); }
};

/// An entry point: `symbol(void **args)` takes pointers to memref descriptors
/// for the inputs, then the weights, then the outputs (out-parameters).
struct EntryPoint {
  std::string name;
  std::string symbol;
  std::vector<TensorSpec> inputs;
  /// Weights, named by their key in weights.safetensors.
  std::vector<TensorSpec> weights;
  std::vector<TensorSpec> outputs;
};

/// The CPU a CPU build was generated for (manifest field `cpu`).
struct CpuBuild {
  /// The level asked for (native, generic, x86-64-v3, ...).
  std::string level;
  /// LLVM's name of the CPU.
  std::string name;
  /// Instruction-set features the code may use (LLVM names); bnb-run
  /// refuses to load the build on a machine that lacks one.
  std::vector<std::string> features;
};

/// The parsed manifest.json.
struct Manifest {
  int64_t formatVersion = kArtifactFormatVersion;
  std::string compilerVersion;
  std::string llvmVersion;
  /// "cpu", "cuda:sm_80" or "cuda:sm_90".
  std::string target;
  std::string moduleFile = "model.so";
  /// A cuda:* artifact's optional CPU build of the same entry points, run
  /// where there is no GPU; empty when absent.
  std::string cpuModuleFile;
  /// The CPU of the CPU build (model.so of a cpu target, or cpuModuleFile);
  /// absent in artifacts that predate it, which need no feature.
  std::optional<CpuBuild> cpuBuild;
  std::string weightsFile = "weights.safetensors";
  /// The checkpoint's tokenizer files the artifact carries (tokenizer.json,
  /// tokenizer_config.json, ...), for generation from text.
  std::vector<std::string> tokenizerFiles;
  /// The quantization_config the model was compiled with.
  llvm::json::Object config;
  std::vector<EntryPoint> entryPoints;
  /// Weight bytes by category (packed, absmax, nested, other).
  llvm::json::Object memoryPlan;
  /// File name -> "xxh3_64/64MiB:<16 hex digits>" (see checksumOf).
  std::vector<std::pair<std::string, std::string>> checksums;

  /// True for a cuda:* target.
  bool isCuda() const { return llvm::StringRef(target).starts_with("cuda:"); }
  /// True when the artifact can run on the CPU: a cpu target, or a cuda:*
  /// target with a CPU build.
  bool hasCpuBuild() const { return !isCuda() || !cpuModuleFile.empty(); }
  /// The module to load for the CPU or the GPU.
  const std::string &moduleFor(bool cuda) const {
    return cuda || !isCuda() ? moduleFile : cpuModuleFile;
  }
  /// The entry point called `name`, or null.
  const EntryPoint *lookup(llvm::StringRef name) const;
};

/// The exported symbol of model.so that holds entrySignature() of the
/// entry points it was compiled with, NUL-terminated. bnb-run compares it
/// with the manifest's so that an edited manifest is refused, not trusted.
inline constexpr const char *kSignatureSymbol = "bnb_artifact_signature";

/// The canonical text of the entry points' names, symbols and tensor
/// signatures (compact JSON, keys sorted).
std::string entrySignature(llvm::ArrayRef<EntryPoint> entries);

/// The number of bytes of `dtype` x `shape`, or nullopt when a dimension is
/// negative or the count overflows int64_t.
std::optional<int64_t> checkedNumBytes(::bnb::DType dtype,
                                       llvm::ArrayRef<int64_t> shape);

/// Parses and validates manifest text; errors name `path` and the field.
llvm::Expected<Manifest> parseManifest(llvm::StringRef text,
                                       llvm::StringRef path);

/// Serializes a manifest.
llvm::json::Value toJson(const Manifest &manifest);

/// The prefix of a checksum string.
inline constexpr const char *kChecksumPrefix = "xxh3_64/64MiB:";

/// The chunk size of the two-level checksum.
inline constexpr size_t kChecksumChunkBytes = size_t(64) << 20;

/// The checksum string of a byte range: "xxh3_64/64MiB:" and the xxh3_64 of
/// the little-endian 64-bit xxh3_64 digests of its consecutive 64 MiB chunks
/// (one chunk, possibly empty, for a range of at most 64 MiB), in 16 hex
/// digits.
std::string checksumOf(llvm::ArrayRef<uint8_t> bytes);

/// Computes the checksum of the file at `path`.
llvm::Expected<std::string> checksumFile(llvm::StringRef path);

} // namespace bnb

#endif // BNB_TARGET_MANIFEST_H
