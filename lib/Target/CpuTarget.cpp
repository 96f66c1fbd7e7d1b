//===- CpuTarget.cpp - which CPU a model library is generated for ----------===//

#include "bnb/Target/CpuTarget.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

using namespace bnb;

llvm::ArrayRef<llvm::StringRef> bnb::checkedCpuFeatures() {
  // What the x86-64 levels add over the baseline, and the AVX-512 and
  // matrix extensions a native build on a recent CPU may use.
  static const llvm::StringRef features[] = {
      "sse3",       "ssse3",      "sse4.1",     "sse4.2",     "popcnt",
      "cx16",       "avx",        "avx2",       "fma",        "f16c",
      "bmi",        "bmi2",       "lzcnt",      "movbe",      "avx512f",
      "avx512bw",   "avx512cd",   "avx512dq",   "avx512vl",   "avx512vnni",
      "avx512bf16", "avx512fp16", "avx512vbmi", "avx512vbmi2", "avx512ifma",
      "avx512bitalg", "avx512vpopcntdq", "avxvnni", "gfni", "vaes",
      "vpclmulqdq", "amx-tile",   "amx-int8",   "amx-bf16"};
  return features;
}

llvm::Expected<CpuTarget> bnb::parseCpuTarget(llvm::StringRef target) {
  llvm::StringRef level = "native";
  if (target != "cpu") {
    level = target;
    if (!level.consume_front("cpu:") || level.empty())
      return llvm::createStringError("unknown target '" + target + "'");
  }
  CpuTarget cpu;
  cpu.level = level.str();
  if (level == "native") {
    cpu.cpu = llvm::sys::getHostCPUName().str();
    std::string features;
    for (const auto &[name, enabled] : llvm::sys::getHostCPUFeatures()) {
      if (!features.empty())
        features += ",";
      features += (enabled ? "+" : "-") + name.str();
    }
    cpu.features = features;
    return cpu;
  }
  bool x86 = llvm::Triple(llvm::sys::getDefaultTargetTriple()).isX86();
  if (level == "generic") {
    cpu.cpu = x86 ? "x86-64" : "generic";
    return cpu;
  }
  if (x86 && (level == "x86-64" || level == "x86-64-v2" ||
              level == "x86-64-v3" || level == "x86-64-v4")) {
    cpu.cpu = level.str();
    return cpu;
  }
  return llvm::createStringError(
      "unknown CPU level '" + level +
      "' (expected native, generic" +
      (x86 ? ", x86-64, x86-64-v2, x86-64-v3 or x86-64-v4" : "") + ")");
}

std::vector<std::string>
bnb::missingHostCpuFeatures(llvm::ArrayRef<std::string> required) {
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  std::vector<std::string> missing;
  for (const std::string &feature : required)
    if (!host.lookup(feature))
      missing.push_back(feature);
  return missing;
}
