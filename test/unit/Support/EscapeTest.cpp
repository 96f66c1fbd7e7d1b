//===- EscapeTest.cpp - one-line messages from names read from files -----===//

#include "bnb/Support/Escape.h"

#include "gtest/gtest.h"

using bnb::escapeForMessage;

namespace {
TEST(Escape, ControlCharacters) {
  EXPECT_EQ(escapeForMessage("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(escapeForMessage("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
  EXPECT_EQ(escapeForMessage(llvm::StringRef("a\0b", 3)), "a\\x00b");
}

TEST(Escape, KeepsPrintableTextAndUtf8) {
  EXPECT_EQ(escapeForMessage("model.layers.0.q_proj.weight"),
            "model.layers.0.q_proj.weight");
  EXPECT_EQ(escapeForMessage("caf\xc3\xa9 \xe6\x97\xa5"), "caf\xc3\xa9 \xe6\x97\xa5");
}

TEST(Escape, C1ControlsAndInvalidUtf8) {
  // U+009B is a terminal's one-byte CSI.
  EXPECT_EQ(escapeForMessage("a\xc2\x9b" "31m"), "a\\u009b31m");
  EXPECT_EQ(escapeForMessage("a\xff\xc3"), "a\\xff\\xc3");
}

TEST(Escape, IsIdempotent) {
  std::string once = escapeForMessage("x\n\x1b\\n");
  EXPECT_EQ(escapeForMessage(once), once);
}
} // namespace
