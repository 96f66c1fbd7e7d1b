//===- ShardedSafetensorsTest.cpp - weights in one file or in shards ------===//
//
// ShardedSafetensors on a scratch directory: a single file, an index whose
// tensors are served from their shards, and the refusals of a broken index.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/ShardedSafetensors.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <fstream>
#include <string>
#include <vector>

namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;
using bnb::ShardedSafetensors;

namespace {

/// A scratch directory with two shards, a.safetensors (tensors "x" and "y")
/// and b.safetensors ("z"), removed after the test.
class ShardedSafetensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    llvm::SmallString<256> prefix;
    path::system_temp_directory(/*ErasedOnReboot=*/true, prefix);
    path::append(prefix, "bnb-sharded");
    ASSERT_FALSE(fs::createUniqueDirectory(prefix, root));
    writeShard("a.safetensors", {{"x", {1, 2, 3, 4}}, {"y", {5, 6}}});
    writeShard("b.safetensors", {{"z", {7, 8, 9}}});
  }
  void TearDown() override { fs::remove_directories(root); }

  std::string file(llvm::StringRef name) const {
    llvm::SmallString<256> p(root);
    path::append(p, name);
    return p.str().str();
  }
  void write(llvm::StringRef name, llvm::StringRef text) const {
    std::ofstream(file(name)) << text.str();
  }
  /// Writes u8 tensors (name, bytes) as a safetensors file.
  void writeShard(
      llvm::StringRef name,
      const std::vector<std::pair<std::string, std::vector<uint8_t>>> &tensors) {
    std::vector<bnb::SafetensorsTensorDecl> decls;
    for (const auto &[key, bytes] : tensors)
      decls.push_back({key, ::bnb::DType::U8, {int64_t(bytes.size())}});
    auto writer = bnb::SafetensorsWriter::create(file(name), decls);
    ASSERT_TRUE(bool(writer)) << llvm::toString(writer.takeError());
    for (const auto &[key, bytes] : tensors)
      ASSERT_FALSE(bool((*writer)->write(key, bytes)));
    ASSERT_FALSE(bool((*writer)->commit()));
  }
  /// Writes model.safetensors.index.json with `weightMap` as its map.
  std::string index(llvm::StringRef weightMap) const {
    write("model.safetensors.index.json",
          "{\"metadata\": {}, \"weight_map\": " + weightMap.str() + "}");
    return file("model.safetensors.index.json");
  }
  /// The error message of opening `indexPath`, or "" when it opens.
  std::string failure(const std::string &indexPath) const {
    auto weights = ShardedSafetensors::open(indexPath);
    return weights ? "" : llvm::toString(weights.takeError());
  }

  llvm::SmallString<256> root;
};

std::vector<uint8_t> bytesOf(const ShardedSafetensors &weights,
                             llvm::StringRef name) {
  const bnb::SafetensorsTensor *tensor = weights.lookup(name);
  if (!tensor)
    return {};
  llvm::ArrayRef<uint8_t> bytes = weights.bytes(*tensor);
  return {bytes.begin(), bytes.end()};
}

TEST_F(ShardedSafetensorsTest, IsIndex) {
  EXPECT_TRUE(bnb::isSafetensorsIndex("d/model.safetensors.index.json"));
  EXPECT_FALSE(bnb::isSafetensorsIndex("d/model.safetensors"));
}

TEST_F(ShardedSafetensorsTest, SingleFile) {
  auto weights = ShardedSafetensors::open(file("a.safetensors"));
  ASSERT_TRUE(bool(weights)) << llvm::toString(weights.takeError());
  EXPECT_EQ(weights->shards().size(), 1u);
  EXPECT_EQ(bytesOf(*weights, "y"), (std::vector<uint8_t>{5, 6}));
  EXPECT_EQ(weights->lookup("z"), nullptr);
}

TEST_F(ShardedSafetensorsTest, LooksUpAcrossShards) {
  std::string path = index(R"({"x": "a.safetensors", "y": "./a.safetensors",
                              "z": "b.safetensors"})");
  auto weights = ShardedSafetensors::open(path);
  ASSERT_TRUE(bool(weights)) << llvm::toString(weights.takeError());
  EXPECT_EQ(weights->path(), path);
  EXPECT_EQ(weights->shards().size(), 2u);
  EXPECT_EQ(bytesOf(*weights, "x"), (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(bytesOf(*weights, "y"), (std::vector<uint8_t>{5, 6}));
  EXPECT_EQ(bytesOf(*weights, "z"), (std::vector<uint8_t>{7, 8, 9}));
  EXPECT_EQ(weights->lookup("w"), nullptr);
  weights->releaseMappedPages();
  EXPECT_EQ(bytesOf(*weights, "z"), (std::vector<uint8_t>{7, 8, 9}));
}

TEST_F(ShardedSafetensorsTest, Refusals) {
  auto expect = [&](llvm::StringRef weightMap, llvm::StringRef what) {
    std::string message = failure(index(weightMap));
    EXPECT_NE(message.find("model.safetensors.index.json': "),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(what.str()), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };
  expect(R"({"x": "c.safetensors"})",
         "shard 'c.safetensors' does not exist");
  expect(R"({"x": "../a.safetensors"})", "escapes the index's directory");
  expect(R"({"x": "/a.safetensors"})", "is an absolute path");
  expect(R"({"x": 3})", "entry 'x' is not a file name");
  expect(R"({"x": "a.safetensors", "w": "a.safetensors"})",
         "tensor 'w' is not in its shard 'a.safetensors'");
  expect(R"({"z": "a.safetensors", "x": "a.safetensors"})",
         "tensor 'z' is not in its shard 'a.safetensors'");
  ASSERT_FALSE(fs::create_directory(file("d.safetensors")));
  expect(R"({"x": "d.safetensors"})", "is a directory, not a regular file");
  write("bad.safetensors", "not safetensors");
  expect(R"({"x": "bad.safetensors"})",
         "shard 'bad.safetensors' is not valid safetensors");
  writeShard("c.safetensors", {{"x", {0}}});
  expect(R"({"x": "a.safetensors", "z": "c.safetensors"})",
         "tensor 'x' is in two shards, 'a.safetensors' and 'c.safetensors'");

  write("model.safetensors.index.json", "{\"weight_map\": ");
  EXPECT_NE(failure(file("model.safetensors.index.json"))
                .find("not a shard index"),
            std::string::npos);
  write("model.safetensors.index.json", "{\"metadata\": {}}");
  EXPECT_NE(failure(file("model.safetensors.index.json"))
                .find("no \"weight_map\" object"),
            std::string::npos);
  EXPECT_NE(failure(file("none.safetensors.index.json")).find("cannot open"),
            std::string::npos);
}

} // namespace
