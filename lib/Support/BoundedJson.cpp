//===- BoundedJson.cpp - JSON parsing with size and depth limits ----------===//

#include "bnb/Support/BoundedJson.h"

#include "llvm/Support/FormatVariadic.h"

using namespace bnb;

llvm::Error bnb::checkJsonBounds(llvm::StringRef text, JsonLimits limits) {
  if (text.size() > limits.maxBytes)
    return llvm::createStringError(
        llvm::formatv("JSON of {0} bytes exceeds the {1}-byte limit",
                      text.size(), limits.maxBytes)
            .str());
  unsigned depth = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '"') {
      // Skip the string; an unterminated one is the parser's to report.
      for (++i; i < e && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
    } else if (c == '[' || c == '{') {
      if (++depth > limits.maxDepth)
        return llvm::createStringError(
            llvm::formatv("JSON nests deeper than {0} levels (byte {1})",
                          limits.maxDepth, i)
                .str());
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return llvm::Error::success();
}

llvm::Expected<llvm::json::Value> bnb::parseBoundedJson(llvm::StringRef text,
                                                        JsonLimits limits) {
  if (llvm::Error error = checkJsonBounds(text, limits))
    return std::move(error);
  return llvm::json::parse(text);
}
