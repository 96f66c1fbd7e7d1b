//===- ConfigAttrTest.cpp - #bnb.config defaults and validation -----------===//

#include "bnb/Dialect/Bnb/IR/BnbAttrs.h"
#include "bnb/Dialect/Bnb/IR/BnbDialect.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::bnb;

namespace {

class ConfigAttrTest : public ::testing::Test {
protected:
  ConfigAttrTest() { context.loadDialect<BnbDialect>(); }

  /// Parses `text`; returns a null attribute and records the diagnostic on
  /// failure.
  ConfigAttr parse(StringRef text) {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      lastError = diag.str();
      return success();
    });
    return dyn_cast_or_null<ConfigAttr>(parseAttribute(text, &context));
  }

  MLIRContext context;
  std::string lastError;
};

TEST_F(ConfigAttrTest, DefaultsMatchTransformers) {
  ConfigAttr config = parse("#bnb.config<>");
  ASSERT_TRUE(config);
  EXPECT_EQ(config, ConfigAttr::getDefault(&context));
  EXPECT_FALSE(config.getLoadIn8bit());
  EXPECT_FALSE(config.getLoadIn4bit());
  EXPECT_EQ(config.getThreshold(), 6.0);
  EXPECT_FALSE(config.getLlmInt8SkipModules());
  EXPECT_FALSE(config.getLlmInt8EnableFp32CpuOffload());
  EXPECT_FALSE(config.getLlmInt8HasFp16Weight());
  EXPECT_TRUE(config.getBnb4bitComputeDtype().isF32());
  EXPECT_EQ(config.getBnb4bitQuantType(), QuantType::fp4);
  EXPECT_FALSE(config.getBnb4bitUseDoubleQuant());
  EXPECT_TRUE(config.getBnb4bitQuantStorage().isUnsignedInteger(8));
}

TEST_F(ConfigAttrTest, ParsesEveryField) {
  ConfigAttr config = parse(
      "#bnb.config<load_in_4bit = true, llm_int8_threshold = 4.5, "
      "llm_int8_skip_modules = [\"q_proj\"], "
      "llm_int8_enable_fp32_cpu_offload = true, "
      "llm_int8_has_fp16_weight = true, bnb_4bit_compute_dtype = \"bfloat16\", "
      "bnb_4bit_quant_type = \"nf4\", bnb_4bit_use_double_quant = true, "
      "bnb_4bit_quant_storage = bf16>");
  ASSERT_TRUE(config) << lastError;
  EXPECT_TRUE(config.getLoadIn4bit());
  EXPECT_EQ(config.getThreshold(), 4.5);
  ASSERT_TRUE(config.getLlmInt8SkipModules());
  EXPECT_EQ(config.getLlmInt8SkipModules().size(), 1u);
  EXPECT_TRUE(config.getLlmInt8EnableFp32CpuOffload());
  EXPECT_TRUE(config.getLlmInt8HasFp16Weight());
  EXPECT_TRUE(config.getBnb4bitComputeDtype().isBF16());
  EXPECT_EQ(config.getBnb4bitQuantType(), QuantType::nf4);
  EXPECT_TRUE(config.getBnb4bitUseDoubleQuant());
  EXPECT_TRUE(config.getBnb4bitQuantStorage().isBF16());
}

TEST_F(ConfigAttrTest, EmptySkipListIsNotNone) {
  // An explicit empty list replaces the automatic lm_head skip, so it must be
  // distinguishable from "no list given".
  ConfigAttr config = parse("#bnb.config<llm_int8_skip_modules = []>");
  ASSERT_TRUE(config);
  ASSERT_TRUE(config.getLlmInt8SkipModules());
  EXPECT_TRUE(config.getLlmInt8SkipModules().empty());
}

TEST_F(ConfigAttrTest, RejectsInvalidConfigs) {
  EXPECT_FALSE(parse("#bnb.config<load_in_4bit = true, load_in_8bit = true>"));
  EXPECT_NE(lastError.find("only one can be used"), std::string::npos);
  EXPECT_FALSE(parse("#bnb.config<llm_int8_threshold = -1.0>"));
  EXPECT_NE(lastError.find("llm_int8_threshold"), std::string::npos);
  EXPECT_FALSE(parse("#bnb.config<bnb_4bit_compute_dtype = i32>"));
  EXPECT_NE(lastError.find("bnb_4bit_compute_dtype"), std::string::npos);
  EXPECT_FALSE(parse("#bnb.config<bnb_4bit_quant_type = \"int4\">"));
  EXPECT_NE(lastError.find("unknown bnb_4bit_quant_type"), std::string::npos);
  EXPECT_FALSE(parse("#bnb.config<bnb_4bit_quant_storage = i32>"));
  EXPECT_NE(lastError.find("bnb_4bit_quant_storage"), std::string::npos);
  EXPECT_FALSE(parse("#bnb.config<load_in_2bit = true>"));
  EXPECT_NE(lastError.find("unknown BitsAndBytesConfig field"),
            std::string::npos);
}

TEST_F(ConfigAttrTest, DtypeNames) {
  EXPECT_TRUE(parseDtypeName(&context, "torch.bfloat16").isBF16());
  EXPECT_TRUE(parseDtypeName(&context, "float16").isF16());
  EXPECT_TRUE(parseDtypeName(&context, "uint8").isUnsignedInteger(8));
  EXPECT_FALSE(parseDtypeName(&context, "float8"));
  EXPECT_EQ(getTorchDtypeName(Builder(&context).getBF16Type()), "bfloat16");
}

TEST_F(ConfigAttrTest, BlocksizesBitsandbytesAccepts) {
  for (int64_t b : {32, 64, 128, 256, 512, 1024, 2048, 4096})
    EXPECT_TRUE(isValid4bitBlocksize(b)) << b;
  for (int64_t b : {0, 16, 48, 8192})
    EXPECT_FALSE(isValid4bitBlocksize(b)) << b;
  EXPECT_FALSE(isValidBlockwiseBlocksize(32));
  EXPECT_TRUE(isValidBlockwiseBlocksize(256));
}

} // namespace
