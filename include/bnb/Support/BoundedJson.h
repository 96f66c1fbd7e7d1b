//===- BoundedJson.h - JSON parsing with size and depth limits ---*- C++ -*-===//
//
// Every JSON document the tools read from a file (a safetensors header, a
// quantization config, an artifact manifest, a quant_state tensor) is parsed
// here. llvm::json::parse recurses once per nesting level, so a few tens of
// thousands of '[' overflow the stack; the text is therefore scanned first
// (strings skipped, brackets counted, no recursion) and refused when it is
// larger or nests deeper than the limits (docs/security.md).
//
// Depends on LLVMSupport only, so that bnb-run links it.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_SUPPORT_BOUNDEDJSON_H
#define BNB_SUPPORT_BOUNDEDJSON_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>

namespace bnb {

/// The largest JSON document the tools parse (100 MB, the safetensors
/// library's header limit).
constexpr uint64_t kJsonMaxBytes = 100000000;

/// The deepest nesting of arrays and objects the tools parse. The formats
/// need at most 5 levels; Python's json module fails near 1000.
constexpr unsigned kJsonMaxDepth = 64;

/// Limits of one parse.
struct JsonLimits {
  /// Largest accepted document, in bytes.
  uint64_t maxBytes = kJsonMaxBytes;
  /// Deepest accepted nesting of arrays and objects.
  unsigned maxDepth = kJsonMaxDepth;
};

/// Checks `text` against `limits` without parsing it: the error says which
/// limit is exceeded and where.
llvm::Error checkJsonBounds(llvm::StringRef text, JsonLimits limits = {});

/// checkJsonBounds, then llvm::json::parse. Errors carry no file name: the
/// caller prefixes it.
llvm::Expected<llvm::json::Value> parseBoundedJson(llvm::StringRef text,
                                                   JsonLimits limits = {});

} // namespace bnb

#endif // BNB_SUPPORT_BOUNDEDJSON_H
