//===- FileSafetyTest.cpp - inputs, outputs and temporary directories -----===//
//
// The rules of include/bnb/Support/FileSafety.h on a scratch directory:
// regular inputs, outputs compared by inode, which directories may be
// replaced, temporary directory names, removal and atomic replacement.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/FileSafety.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <fstream>

namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace {

/// A scratch directory removed after the test.
class FileSafetyTest : public ::testing::Test {
protected:
  void SetUp() override {
    llvm::SmallString<256> prefix;
    path::system_temp_directory(/*ErasedOnReboot=*/true, prefix);
    path::append(prefix, "bnb-file-safety");
    ASSERT_FALSE(fs::createUniqueDirectory(prefix, root));
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
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; it != end && !ec;
         it.increment(ec))
      names.push_back(path::filename(it->path()).str());
    llvm::sort(names);
    return names;
  }

  llvm::SmallString<256> root;
};

std::string message(llvm::Error error) {
  return error ? llvm::toString(std::move(error)) : "";
}

TEST_F(FileSafetyTest, RegularInputs) {
  write("a", "x");
  EXPECT_EQ(message(bnb::checkRegularInput(file("a"))), "");
  EXPECT_EQ(message(bnb::checkRegularInput(file("missing"))), "");
  EXPECT_EQ(message(bnb::checkRegularInput(root)),
            "'" + root.str().str() + "' is a directory, not a regular file");
  EXPECT_EQ(message(bnb::checkRegularInput("/dev/null")),
            "'/dev/null' is a character device, not a regular file");
}

TEST_F(FileSafetyTest, OutputIsAnInputByInode) {
  write("in", "x");
  ASSERT_FALSE(fs::create_link(file("in"), file("soft")));
  ASSERT_FALSE(fs::create_hard_link(file("in"), file("hard")));
  for (llvm::StringRef alias : {"in", "soft", "hard"})
    EXPECT_EQ(message(bnb::checkOutputFile(file(alias), {file("in")})),
              "'" + file(alias) + "' is the input file '" + file("in") + "'");
  EXPECT_EQ(message(bnb::checkOutputFile(file("new"), {file("in")})), "");
  EXPECT_EQ(message(bnb::checkOutputFile(root, {})),
            "'" + root.str().str() +
                "' exists and is a directory; only a regular file may be "
                "replaced");
}

TEST_F(FileSafetyTest, OnlyArtifactsAreReplaced) {
  ASSERT_FALSE(fs::create_directory(file("a.bnb")));
  EXPECT_EQ(message(bnb::checkArtifactOutput(file("a.bnb"), {}, true)), "");
  EXPECT_EQ(message(bnb::checkArtifactOutput(file("a.bnb"), {}, false)),
            "'" + file("a.bnb") +
                "' already exists; pass --force to replace it");
  write("a.bnb/manifest.json", "{\"format\": \"bnb-artifact\"}");
  write("a.bnb/model.so", "");
  EXPECT_TRUE(bnb::looksLikeArtifact(file("a.bnb")));
  EXPECT_EQ(message(bnb::checkArtifactOutput(file("a.bnb"), {}, true)), "");
  // An input inside it, or a file of another kind, makes it no artifact.
  EXPECT_NE(message(bnb::checkArtifactOutput(
                file("a.bnb"), {file("a.bnb/model.so")}, true)),
            "");
  write("a.bnb/notes.txt", "mine");
  EXPECT_FALSE(bnb::looksLikeArtifact(file("a.bnb")));
  EXPECT_NE(message(bnb::checkArtifactOutput(file("a.bnb"), {}, true)), "");
  // The directory holding an input.
  write("in", "x");
  EXPECT_EQ(message(bnb::checkArtifactOutput(root, {file("in")}, true)),
            "refusing to replace '" + root.str().str() +
                "': it contains the input '" + file("in") + "'");
}

TEST_F(FileSafetyTest, TemporaryDirectoryNames) {
  EXPECT_TRUE(bnb::isTemporaryDirectoryName("x/m.bnb.tmp-a1B2c3"));
  EXPECT_TRUE(bnb::isTemporaryDirectoryName("m.bnb.old-000000"));
  EXPECT_FALSE(bnb::isTemporaryDirectoryName("m.bnb"));
  EXPECT_FALSE(bnb::isTemporaryDirectoryName("m.tmp-1234567"));
  EXPECT_FALSE(bnb::isTemporaryDirectoryName("m.tmp-12.45"));
}

TEST_F(FileSafetyTest, UncommittedDirectoryIsRemoved) {
  {
    llvm::Expected<std::unique_ptr<bnb::TempDirectory>> temp =
        bnb::TempDirectory::create(file("a.bnb"));
    ASSERT_TRUE(bool(temp)) << llvm::toString(temp.takeError());
    EXPECT_TRUE(bnb::isTemporaryDirectoryName((*temp)->path()));
    std::ofstream(((*temp)->path() + "/weights.safetensors").str()) << "w";
    EXPECT_EQ(entries().size(), 1u);
  }
  EXPECT_TRUE(entries().empty());
}

TEST_F(FileSafetyTest, CommitReplacesAtomically) {
  ASSERT_FALSE(fs::create_directory(file("a.bnb")));
  write("a.bnb/manifest.json", "old");
  llvm::Expected<std::unique_ptr<bnb::TempDirectory>> temp =
      bnb::TempDirectory::create(file("a.bnb"));
  ASSERT_TRUE(bool(temp)) << llvm::toString(temp.takeError());
  std::ofstream(((*temp)->path() + "/manifest.json").str()) << "new";
  ASSERT_EQ(message((*temp)->commit(file("a.bnb"))), "");
  temp->reset();
  EXPECT_EQ(entries(), std::vector<std::string>{"a.bnb"});
  std::ifstream in(file("a.bnb/manifest.json"));
  std::string text;
  in >> text;
  EXPECT_EQ(text, "new");
}

} // namespace

