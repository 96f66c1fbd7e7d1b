//===- MlirNesting.cpp - nesting limit of textual MLIR input --------------===//

#include "bnb/Support/MlirNesting.h"

#include "llvm/Support/FormatVariadic.h"

using namespace bnb;

llvm::Error bnb::checkMlirNesting(llvm::StringRef text, llvm::StringRef name,
                                  unsigned maxDepth) {
  if (text.starts_with("ML\xEFR"))
    return llvm::Error::success();
  unsigned depth = 0;
  size_t line = 1, lineStart = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    switch (c) {
    case '\n':
      ++line;
      lineStart = i + 1;
      break;
    case '"':
      // A string ends at an unescaped quote (or, unterminated, at the end
      // of the line, where the parser reports it).
      for (++i; i < e && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\')
          ++i;
      if (i < e && text[i] == '\n')
        --i;
      break;
    case '/':
      if (i + 1 < e && text[i + 1] == '/')
        while (i + 1 < e && text[i + 1] != '\n')
          ++i;
      break;
    case '{':
    case '[':
    case '(':
    case '<':
      if (++depth > maxDepth)
        return llvm::createStringError(
            llvm::formatv("{0}:{1}:{2}: nesting deeper than {3} levels of "
                          "braces, brackets, parentheses and angle brackets",
                          name, line, i - lineStart + 1, maxDepth)
                .str());
      break;
    case '>':
      // '->' and '>=' close nothing.
      if ((i > 0 && text[i - 1] == '-') || (i + 1 < e && text[i + 1] == '='))
        break;
      [[fallthrough]];
    case '}':
    case ']':
    case ')':
      if (depth > 0)
        --depth;
      break;
    default:
      break;
    }
  }
  return llvm::Error::success();
}
