//===- MlirParserGuards.cpp - input the upstream MLIR parser crashes on ---===//

#include "bnb/Support/MlirParserGuards.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace bnb;

namespace {
bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isIdentifierChar(char c) {
  return llvm::isAlnum(c) || c == '_' || c == '$' || c == '.';
}
} // namespace

llvm::Error bnb::checkMlirParserGuards(llvm::StringRef text,
                                       llvm::StringRef name) {
  if (text.starts_with("ML\xEFR"))
    return llvm::Error::success();
  size_t line = 1, lineStart = 0;
  // The last character that was neither space nor part of a comment.
  char previous = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      lineStart = i + 1;
      continue;
    }
    if (isSpace(c))
      continue;
    if (c == '"') {
      for (++i; i < e && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\')
          ++i;
      if (i < e && text[i] == '\n')
        --i;
      previous = '"';
      continue;
    }
    if (c == '/' && i + 1 < e && text[i + 1] == '/') {
      while (i + 1 < e && text[i + 1] != '\n')
        ++i;
      continue;
    }
    if (!isIdentifierChar(c)) {
      previous = c;
      continue;
    }
    size_t begin = i;
    while (i + 1 < e && isIdentifierChar(text[i + 1]))
      ++i;
    llvm::StringRef word = text.slice(begin, i + 1);
    bool guarded = previous == ')' &&
                   (word == "permutation" || word == "dimensions");
    previous = 'a';
    if (!guarded)
      continue;
    // `= [`, then integers up to `]`.
    size_t j = i + 1;
    while (j < e && isSpace(text[j]))
      ++j;
    if (j >= e || text[j] != '=')
      continue;
    for (++j; j < e && isSpace(text[j]);)
      ++j;
    if (j >= e || text[j] != '[')
      continue;
    for (++j; j < e && text[j] != ']'; ++j) {
      char d = text[j];
      if (!(llvm::isDigit(d) || d == ',' || d == '-' || isSpace(d)))
        break;
    }
    if (j < e && text[j] == ']')
      continue;
    return llvm::createStringError(
        llvm::formatv("{0}:{1}:{2}: malformed integer list after '{3}' "
                      "(expected [i, j, ...])",
                      name, line, begin - lineStart + 1, word)
            .str());
  }
  return llvm::Error::success();
}
