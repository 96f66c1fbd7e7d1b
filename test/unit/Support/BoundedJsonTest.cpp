//===- BoundedJsonTest.cpp - the size and depth limits of JSON parsing ----===//

#include "bnb/Support/BoundedJson.h"

#include "gtest/gtest.h"

#include <string>

using namespace bnb;

namespace {
std::string errorOf(llvm::StringRef text, JsonLimits limits = {}) {
  llvm::Expected<llvm::json::Value> value = parseBoundedJson(text, limits);
  if (value)
    return "";
  return llvm::toString(value.takeError());
}

TEST(BoundedJson, ParsesWithinLimits) {
  llvm::Expected<llvm::json::Value> value =
      parseBoundedJson(R"({"a": [[1, 2], {"b": "[[[["}]})");
  ASSERT_TRUE(bool(value)) << llvm::toString(value.takeError());
  EXPECT_TRUE(value->getAsObject());
}

TEST(BoundedJson, RefusesDeepNestingWithoutRecursing) {
  // Deep enough to overflow the stack inside llvm::json::parse.
  std::string deep(1000000, '[');
  EXPECT_EQ(errorOf(deep), "JSON nests deeper than 64 levels (byte 64)");
  std::string objects;
  for (int i = 0; i < 100; ++i)
    objects += "{\"k\":";
  EXPECT_EQ(errorOf(objects), "JSON nests deeper than 64 levels (byte 320)");
}

TEST(BoundedJson, CountsExactlyTheLimit) {
  std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_EQ(errorOf(ok), "");
  std::string over = std::string(65, '[') + std::string(65, ']');
  EXPECT_NE(errorOf(over), "");
}

TEST(BoundedJson, IgnoresBracketsInStrings) {
  std::string text = "[\"" + std::string(200, '[') + "\\\"[\"]";
  EXPECT_EQ(errorOf(text), "");
}

TEST(BoundedJson, RefusesLargeDocuments) {
  JsonLimits limits;
  limits.maxBytes = 4;
  EXPECT_EQ(errorOf("[1,2]", limits), "JSON of 5 bytes exceeds the 4-byte limit");
}

TEST(BoundedJson, PassesParseErrorsThrough) {
  EXPECT_NE(errorOf("{ nope").find("Expected object key"), std::string::npos);
}
} // namespace
