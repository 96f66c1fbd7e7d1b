//===- MemoryReportTest.cpp - the MemoryReport analysis -------------------===//
//
// The analysis as the artifact writer consumes it (no pass, no file): the
// totals of a graph whose sizes are worked out by hand, and the error of a
// graph beyond the report's range.

#include "bnb/Dialect/Bnb/Transforms/MemoryReport.h"
#include "bnb/InitAll.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::bnb;

namespace {

// One nf4+dq layer (64x64), one int8 layer with bias (32x64) and a skipped
// lm_head (100x32), as in test/Transforms/memory-report.mlir.
constexpr const char *kGraph = R"mlir(
module attributes {bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_use_double_quant = true>} {
  ml_program.global private @"emb"(#ml_program.extern : tensor<100x64xf16>) : tensor<100x64xf16>
  ml_program.global private @"up.weight"(#ml_program.extern : tensor<2048x1xui8>) : tensor<2048x1xui8>
  ml_program.global private @"up.weight.absmax"(#ml_program.extern : tensor<64xui8>) : tensor<64xui8>
  ml_program.global private @"up.weight.nested_absmax"(#ml_program.extern : tensor<1xf32>) : tensor<1xf32>
  ml_program.global private @"down.weight"(#ml_program.extern : tensor<32x64xf16>) : tensor<32x64xf16>
  ml_program.global private @"down.bias"(#ml_program.extern : tensor<32xf16>) : tensor<32xf16>
  ml_program.global private @"lm_head.weight"(#ml_program.extern : tensor<100x32xf16>) : tensor<100x32xf16>
  func.func @forward(%x: tensor<2x64xf16>) -> tensor<2x100xf16> {
    %e = ml_program.global_load_const @"emb" : tensor<100x64xf16>
    %w = ml_program.global_load_const @"up.weight" : tensor<2048x1xui8>
    %a = ml_program.global_load_const @"up.weight.absmax" : tensor<64xui8>
    %n = ml_program.global_load_const @"up.weight.nested_absmax" : tensor<1xf32>
    %h = bnb.linear_4bit %x, %w absmax(%a : tensor<64xui8>) nested(%n : tensor<1xf32>) {module = "up", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 64, 64>, nested_offset = 1.0 : f32} : tensor<2x64xf16>, tensor<2048x1xui8> -> tensor<2x64xf16>
    %s = tensor.extract_slice %e[0, 0] [2, 64] [1, 1] : tensor<100x64xf16> to tensor<2x64xf16>
    %hs = arith.addf %h, %s : tensor<2x64xf16>
    %w2 = ml_program.global_load_const @"down.weight" : tensor<32x64xf16>
    %b2 = ml_program.global_load_const @"down.bias" : tensor<32xf16>
    %d = bnb.linear_int8 %hs, %w2 bias(%b2 : tensor<32xf16>) {module = "down"} : tensor<2x64xf16>, tensor<32x64xf16> -> tensor<2x32xf16>
    %zero = arith.constant 0.0 : f16
    %wl = ml_program.global_load_const @"lm_head.weight" : tensor<100x32xf16>
    %el = tensor.empty() : tensor<2x100xf16>
    %fl = linalg.fill ins(%zero : f16) outs(%el : tensor<2x100xf16>) -> tensor<2x100xf16>
    %l = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
           ins(%d, %wl : tensor<2x32xf16>, tensor<100x32xf16>) outs(%fl : tensor<2x100xf16>) -> tensor<2x100xf16>
    return %l : tensor<2x100xf16>
  }
}
)mlir";

class MemoryReportTest : public ::testing::Test {
protected:
  MemoryReportTest() {
    DialectRegistry registry;
    ::bnb::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }
  MLIRContext context;
};

TEST_F(MemoryReportTest, TotalsByHand) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(kGraph, &context);
  ASSERT_TRUE(module);
  MemoryReport report(*module);
  ASSERT_FALSE(report.failed());
  ASSERT_EQ(report.layers().size(), 3u);
  EXPECT_EQ(report.layers()[0].module, "up");
  EXPECT_EQ(report.layers()[0].kind, "nf4+dq");
  // nf4+dq 64x64: 2048 packed, 64 codes + 64 B quant map, 4 + 1024 nested.
  EXPECT_EQ(report.layers()[0].total(), 2048 + 128 + 1028);
  EXPECT_TRUE(report.layers()[1].projected);
  MemoryTotals t = report.totals();
  EXPECT_EQ(t.packed, 2048 + 2048);
  EXPECT_EQ(t.absmax, 128 + 129);
  EXPECT_EQ(t.nested, 1028);
  EXPECT_EQ(t.skipped, 6400);
  EXPECT_EQ(t.bias, 64);
  EXPECT_EQ(t.rest, 12800);
  EXPECT_EQ(t.footprint(), 23360);
  EXPECT_EQ(t.total(), 24645);
  // The manifest's memory plan is this object.
  llvm::json::Object json = report.totalsJson();
  EXPECT_EQ(json.getInteger("footprint"), 23360);
  EXPECT_EQ(json.getInteger("nested_state"), 1028);
}

TEST_F(MemoryReportTest, OutOfRangeSizesFail) {
  std::string error;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    error = diag.str();
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
module {
  ml_program.global private @"huge"(#ml_program.extern : tensor<4611686018427387904x4xf16>) : tensor<4611686018427387904x4xf16>
}
)mlir",
                                                             &context);
  ASSERT_TRUE(module);
  MemoryReport report(*module);
  EXPECT_TRUE(report.failed());
  EXPECT_NE(error.find("exceed 2^62 bytes"), std::string::npos) << error;
}

} // namespace
