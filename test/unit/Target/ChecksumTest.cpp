//===- ChecksumTest.cpp - the artifact's two-level file checksum ----------===//
//
// checksumFile reads a file one 64 MiB chunk at a time; its result must equal
// the definition (xxh3_64 of the chunks' little-endian xxh3_64 digests),
// computed here directly with LLVM's xxh3, and checksumOf on the same bytes.
//
//===----------------------------------------------------------------------===//

#include "bnb/Target/Manifest.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <gtest/gtest.h>

#include <random>

namespace {

constexpr size_t kChunk = size_t(64) << 20;

/// The definition, spelled out: digests of [0, 64Mi), [64Mi, 128Mi), ...
std::string expected(llvm::ArrayRef<uint8_t> bytes) {
  std::vector<uint8_t> le;
  size_t chunks = bytes.empty() ? 1 : (bytes.size() + kChunk - 1) / kChunk;
  for (size_t c = 0; c < chunks; ++c) {
    uint64_t d = llvm::xxh3_64bits(bytes.slice(
        c * kChunk, std::min(kChunk, bytes.size() - c * kChunk)));
    for (int i = 0; i < 8; ++i)
      le.push_back(uint8_t(d >> (8 * i)));
  }
  return llvm::formatv("xxh3_64/64MiB:{0:x-16}", llvm::xxh3_64bits(le)).str();
}

class ChecksumTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("checksum", "bin", path));
  }
  void TearDown() override { llvm::sys::fs::remove(path); }

  void write(llvm::ArrayRef<uint8_t> bytes) {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    ASSERT_FALSE(ec);
    os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  }

  std::string fileChecksum() {
    llvm::Expected<std::string> sum = bnb::checksumFile(path);
    EXPECT_TRUE(bool(sum)) << llvm::toString(sum.takeError());
    return sum ? *sum : "";
  }

  llvm::SmallString<128> path;
};

std::vector<uint8_t> randomBytes(size_t n, unsigned seed) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j)
      v[i + j] = uint8_t(r >> (8 * j));
  }
  return v;
}

TEST_F(ChecksumTest, EmptyFileIsOneEmptyChunk) {
  write({});
  EXPECT_EQ(fileChecksum(), expected({}));
  EXPECT_EQ(bnb::checksumOf({}), expected({}));
}

TEST_F(ChecksumTest, SmallFile) {
  std::vector<uint8_t> bytes = randomBytes(1000, 1);
  write(bytes);
  EXPECT_EQ(fileChecksum(), expected(bytes));
  EXPECT_EQ(bnb::checksumOf(bytes), expected(bytes));
  // Not the one-level xxh3 of the bytes.
  EXPECT_NE(fileChecksum(),
            llvm::formatv("xxh3_64/64MiB:{0:x-16}", llvm::xxh3_64bits(bytes))
                .str());
}

TEST_F(ChecksumTest, ExactlyOneChunk) {
  std::vector<uint8_t> bytes = randomBytes(kChunk, 2);
  write(bytes);
  EXPECT_EQ(fileChecksum(), expected(bytes));
}

TEST_F(ChecksumTest, SeveralChunksAndEveryChunkCounts) {
  std::vector<uint8_t> bytes = randomBytes(2 * kChunk + 3, 3);
  write(bytes);
  std::string sum = fileChecksum();
  EXPECT_EQ(sum, expected(bytes));
  EXPECT_EQ(bnb::checksumOf(bytes), sum);
  // A change in the last, short chunk changes the checksum.
  bytes.back() ^= 1;
  write(bytes);
  EXPECT_NE(fileChecksum(), sum);
  EXPECT_EQ(fileChecksum(), expected(bytes));
}

TEST_F(ChecksumTest, MissingFileIsAnError) {
  llvm::sys::fs::remove(path);
  llvm::Expected<std::string> sum = bnb::checksumFile(path);
  ASSERT_FALSE(bool(sum));
  std::string message = llvm::toString(sum.takeError());
  EXPECT_NE(message.find("cannot read '" + path.str().str() + "'"),
            std::string::npos)
      << message;
}

} // namespace
