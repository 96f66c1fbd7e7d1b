//===- ManifestTest.cpp - the checks on a manifest bnb-run reads ----------===//

#include "bnb/Target/Manifest.h"

#include "gtest/gtest.h"

using namespace bnb;

namespace {
TEST(Manifest, CheckedNumBytes) {
  EXPECT_EQ(checkedNumBytes(::bnb::DType::F32, {2, 3}), 24);
  EXPECT_EQ(checkedNumBytes(::bnb::DType::F32, {}), 4);
  EXPECT_EQ(checkedNumBytes(::bnb::DType::F16, {0, int64_t(1) << 62}), 0);
  EXPECT_FALSE(checkedNumBytes(::bnb::DType::F32,
                               {int64_t(1) << 32, int64_t(1) << 32}));
  EXPECT_FALSE(checkedNumBytes(::bnb::DType::F64, {int64_t(1) << 61}));
  EXPECT_FALSE(checkedNumBytes(::bnb::DType::U8, {-1}));
}

TEST(Manifest, SignatureIsCanonical) {
  EntryPoint entry;
  entry.name = "forward";
  entry.symbol = "bnb_entry_forward";
  TensorSpec ids;
  ids.name = "input_ids";
  ids.dtype = ::bnb::DType::I64;
  ids.shape = {1, 8};
  ids.vocabSize = 256;
  entry.inputs.push_back(ids);
  EXPECT_EQ(entrySignature({entry}),
            R"([{"inputs":[{"dtype":"I64","name":"input_ids","shape":[1,8],)"
            R"("vocab_size":256}],"name":"forward","outputs":[],)"
            R"("symbol":"bnb_entry_forward","weights":[]}])");
  EntryPoint other = entry;
  other.inputs[0].shape = {1, 4};
  EXPECT_NE(entrySignature({entry}), entrySignature({other}));
}
} // namespace
