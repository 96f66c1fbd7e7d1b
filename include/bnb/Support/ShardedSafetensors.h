//===- ShardedSafetensors.h - one or many safetensors files -----*- C++ -*-===//
//
// The weights a graph names in its bnb.weights attribute: a single
// safetensors file, or the index of a sharded checkpoint
// (`*.safetensors.index.json`, as Hugging Face writes it: an object whose
// "weight_map" maps each tensor name to the shard file holding it). An index
// is opened completely before anything reads a tensor: every shard it names
// must be a regular file in the index's own directory, valid safetensors
// (SafetensorsFile), and hold the tensors the index assigns to it; no tensor
// may be in two shards. Every error names the file and what is wrong.
//
// Depends on LLVMSupport only.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_SHARDEDSAFETENSORS_H
#define BNB_SUPPORT_SHARDEDSAFETENSORS_H

#include "bnb/Support/Safetensors.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace bnb {

/// True when `path` names a shard index (ends in ".index.json").
bool isSafetensorsIndex(llvm::StringRef path);

/// The tensors of a safetensors file or of the shards of an index, looked up
/// by name.
class ShardedSafetensors {
public:
  /// Opens `path`: a shard index when isSafetensorsIndex(path), otherwise a
  /// single safetensors file.
  static llvm::Expected<ShardedSafetensors> open(llvm::StringRef path);

  /// The path the weights were opened with.
  llvm::StringRef path() const { return filePath; }

  /// The shard files, in the order the index first names them (the file
  /// itself when not sharded).
  llvm::ArrayRef<SafetensorsFile> shards() const { return shardFiles; }

  /// The tensor called `name`, or null.
  const SafetensorsTensor *lookup(llvm::StringRef name) const;

  /// The bytes of `tensor`, which must come from lookup(); not necessarily
  /// aligned.
  llvm::ArrayRef<uint8_t> bytes(const SafetensorsTensor &tensor) const;

  /// Releases the mapped pages of every shard from the resident set (see
  /// SafetensorsFile::releaseMappedPages).
  void releaseMappedPages() const;

private:
  ShardedSafetensors() = default;

  std::string filePath;
  std::vector<SafetensorsFile> shardFiles;
  /// Tensor name to its index in shardFiles.
  llvm::StringMap<unsigned> shardOf;
};

} // namespace bnb

#endif // BNB_SUPPORT_SHARDEDSAFETENSORS_H
