//===- Generate.h - bnb-run --generate ----------------------------*- C++ -*-===//
//
// Text generation on a compiled artifact, entirely in the runtime: the
// prompt goes through `prefill` in chunks (and `decode` for the rest), then
// `decode` runs once per new token against KV caches that stay in place.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TOOLS_BNBRUN_GENERATE_H
#define BNB_TOOLS_BNBRUN_GENERATE_H

#include "bnb/Support/Sampler.h"
#include "bnb/Target/Manifest.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace bnb::tools {

/// What to generate.
struct GenerateOptions {
  std::vector<int64_t> promptIds;
  int64_t maxNewTokens = 32;
  SamplingOptions sampling;
  /// Generation stops after emitting one of these.
  std::vector<int64_t> stopIds;
  /// Microkernel threads (0: the default).
  unsigned threads = 0;
  /// Print prompt/prefill/decode timings and peak memory to stdout.
  bool report = false;
};

/// Generates from the artifact at `artifactDir` on the CPU or the GPU,
/// printing each new token id to stdout as it is produced.
llvm::Error generate(const Manifest &manifest, llvm::StringRef artifactDir,
                     bool cuda, const GenerateOptions &options);

} // namespace bnb::tools

#endif // BNB_TOOLS_BNBRUN_GENERATE_H
