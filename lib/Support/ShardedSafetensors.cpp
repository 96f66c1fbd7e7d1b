//===- ShardedSafetensors.cpp - one or many safetensors files -------------===//

#include "bnb/Support/ShardedSafetensors.h"

#include "bnb/Support/BoundedJson.h"
#include "bnb/Support/Escape.h"
#include "bnb/Support/FileSafety.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <map>
#include <utility>

using namespace bnb;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace {

/// An error "'<file>': <message>".
Error fileError(StringRef file, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "'" + escapeForMessage(file) + "': " +
                                     message);
}

/// `text` quoted and escaped for a message.
std::string quoted(StringRef text) {
  return "'" + escapeForMessage(text) + "'";
}

/// Checks that `shard` names a file inside the index's directory: relative,
/// and with no ".." component.
Error checkShardName(StringRef index, StringRef shard) {
  if (shard.empty())
    return fileError(index, "an empty shard file name");
  if (path::is_absolute(shard) || path::is_absolute(shard, path::Style::posix) ||
      path::has_root_name(shard))
    return fileError(index, "shard " + quoted(shard) +
                                " is an absolute path; shards must be in "
                                "the index's directory");
  for (StringRef component :
       llvm::make_range(path::begin(shard), path::end(shard)))
    if (component == "..")
      return fileError(index, "shard " + quoted(shard) +
                                  " escapes the index's directory");
  return Error::success();
}

} // namespace

bool bnb::isSafetensorsIndex(StringRef file) {
  return file.ends_with(".index.json");
}

Expected<ShardedSafetensors> ShardedSafetensors::open(StringRef file) {
  ShardedSafetensors result;
  result.filePath = file.str();
  if (!isSafetensorsIndex(file)) {
    Expected<SafetensorsFile> single = SafetensorsFile::open(file);
    if (!single)
      return single.takeError();
    result.shardFiles.push_back(std::move(*single));
    for (const SafetensorsTensor &tensor : result.shardFiles[0].tensors())
      result.shardOf[tensor.name] = 0;
    return std::move(result);
  }

  if (Error error = checkRegularInput(file))
    return error;
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> text =
      llvm::MemoryBuffer::getFile(file, /*IsText=*/true);
  if (!text)
    return fileError(file, "cannot open: " + text.getError().message());
  Expected<llvm::json::Value> json = parseBoundedJson((*text)->getBuffer());
  if (!json)
    return fileError(file, "not a shard index: " +
                               escapeForMessage(toString(json.takeError())));
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return fileError(file, "not a shard index: not a JSON object");
  const llvm::json::Object *weightMap = root->getObject("weight_map");
  if (!weightMap)
    return fileError(file, "no \"weight_map\" object");

  // Tensor name -> shard name, sorted so that errors do not depend on hash
  // order.
  std::map<std::string, std::string> assigned;
  for (const auto &[name, value] : *weightMap) {
    std::optional<StringRef> shard = value.getAsString();
    if (!shard)
      return fileError(file, "\"weight_map\" entry " + quoted(name.str()) +
                                 " is not a file name");
    llvm::SmallString<128> normal(*shard);
    path::remove_dots(normal, /*remove_dot_dot=*/false);
    if (Error error = checkShardName(file, normal))
      return error;
    assigned[name.str()] = normal.str().str();
  }

  // Map every shard once, in name order.
  std::map<std::string, unsigned> shardIndex;
  for (const auto &entry : assigned)
    shardIndex.emplace(entry.second, 0);
  std::vector<std::string> shardNames;
  StringRef dir = path::parent_path(file);
  for (auto &[shard, slot] : shardIndex) {
    llvm::SmallString<256> shardPath(dir);
    path::append(shardPath, shard);
    if (!fs::exists(shardPath))
      return fileError(file, "shard " + quoted(shard) + " does not exist");
    if (Error error = checkRegularInput(shardPath))
      return fileError(file, "shard " + quoted(shard) + ": " +
                                 toString(std::move(error)));
    Expected<SafetensorsFile> shardFile = SafetensorsFile::open(shardPath);
    if (!shardFile)
      return fileError(file, "shard " + quoted(shard) +
                                 " is not valid safetensors: " +
                                 toString(shardFile.takeError()));
    slot = result.shardFiles.size();
    result.shardFiles.push_back(std::move(*shardFile));
    shardNames.push_back(shard);
  }

  for (unsigned i = 0; i < result.shardFiles.size(); ++i)
    for (const SafetensorsTensor &tensor : result.shardFiles[i].tensors()) {
      auto [it, inserted] = result.shardOf.try_emplace(tensor.name, i);
      if (!inserted)
        return fileError(file, "tensor " + quoted(tensor.name) +
                                   " is in two shards, " +
                                   quoted(shardNames[it->second]) + " and " +
                                   quoted(shardNames[i]));
    }
  for (const auto &[name, shard] : assigned) {
    auto it = result.shardOf.find(name);
    if (it == result.shardOf.end() || shardNames[it->second] != shard)
      return fileError(file, "tensor " + quoted(name) + " is not in its shard " +
                                 quoted(shard));
  }
  return std::move(result);
}

const SafetensorsTensor *ShardedSafetensors::lookup(StringRef name) const {
  auto it = shardOf.find(name);
  if (it == shardOf.end())
    return nullptr;
  return shardFiles[it->second].lookup(name);
}

llvm::ArrayRef<uint8_t>
ShardedSafetensors::bytes(const SafetensorsTensor &tensor) const {
  auto it = shardOf.find(tensor.name);
  assert(it != shardOf.end() && "tensor not from lookup()");
  const SafetensorsFile &shard = shardFiles[it->second];
  assert(shard.lookup(tensor.name) == &tensor && "tensor not from lookup()");
  return shard.bytes(tensor);
}

void ShardedSafetensors::releaseMappedPages() const {
  for (const SafetensorsFile &shard : shardFiles)
    shard.releaseMappedPages();
}
