//===- bnb-quant-tables.cpp - lib/Quant's tables as JSON ------------------===//
//
// Prints the code tables, thresholds and BitsAndBytesConfig value rules of
// lib/Quant as JSON: the one source the Python frontend reads
// (python_frontend/bnb_mlir/quant_tables.json, kept equal to this output by
// test/Utils/quant-tables-json.test). Floats are written as the hexadecimal
// digits of their f32 bit patterns, so nothing is rounded on the way.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/ConfigRules.h"
#include "bnb/Quant/Tables.h"

#include "llvm/ADT/bit.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

using namespace bnb;
using namespace bnb::quant;

namespace {

/// The 8 hexadecimal digits of each value's f32 bit pattern.
llvm::json::Array bitPatterns(llvm::ArrayRef<float> values) {
  llvm::json::Array out;
  for (float v : values) {
    std::string digits;
    llvm::raw_string_ostream os(digits);
    os << llvm::format_hex_no_prefix(llvm::bit_cast<uint32_t>(v), 8);
    out.push_back(std::move(digits));
  }
  return out;
}

llvm::json::Array names(llvm::ArrayRef<llvm::StringLiteral> list) {
  llvm::json::Array out;
  for (llvm::StringLiteral name : list)
    out.push_back(name.str());
  return out;
}

} // namespace

int main(int argc, char **argv) {
  llvm::cl::ParseCommandLineOptions(
      argc, argv, "prints lib/Quant's code tables and config rules as JSON\n");
  float fp4QuantMap[16];
  serializedQuantMap(QuantType::FP4, fp4QuantMap);
  llvm::json::Array fp4Magnitude;
  for (unsigned rank = 0; rank < 8; ++rank)
    fp4Magnitude.push_back(int64_t(fp4MagnitudeCode(rank)));
  llvm::json::Object root{
      {"nf4", bitPatterns(kNF4Table)},
      {"fp4", bitPatterns(kFP4Table)},
      {"fp4_quant_map", bitPatterns(fp4QuantMap)},
      {"nf4_thresholds", bitPatterns(kNF4Thresholds)},
      {"fp4_thresholds", bitPatterns(kFP4Thresholds)},
      {"fp4_magnitude_code", std::move(fp4Magnitude)},
      {"dynamic_map", bitPatterns(kDynamicMap)},
      {"config",
       llvm::json::Object{
           {"compute_dtypes", names(kComputeDtypeNames)},
           {"quant_storage_dtypes", names(kQuantStorageNames)},
           {"quant_types", names(kQuantTypeNames)},
           {"both_loads_message", kBothLoadsMessage.str()},
       }},
  };
  llvm::outs() << llvm::formatv("{0:1}", llvm::json::Value(std::move(root)))
               << "\n";
  return 0;
}
