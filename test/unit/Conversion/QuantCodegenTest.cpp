//===- QuantCodegenTest.cpp - the numerics emitters against lib/Quant -----===//
//
// Each test emits one QuantCodegen formula for many constant inputs into a
// function, folds it with the canonicalizer (math.fma, which has no folder,
// and the final rounding after it are evaluated here with APFloat), and
// compares every result bit with lib/Quant. The IR of each emitter is also
// checked for the operations its roundings depend on.
//
//===----------------------------------------------------------------------===//

#include "bnb/Conversion/QuantCodegen.h"
#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/Float16.h"
#include "bnb/Quant/Int8.h"
#include "bnb/Quant/Tables.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace mlir;
using namespace mlir::bnb;
using namespace mlir::bnb::codegen;
namespace q = ::bnb::quant;

namespace {

/// Emits values for one function at the builder's insertion point.
using BodyFn = llvm::function_ref<SmallVector<Value>(OpBuilder &, Location,
                                                     ValueRange args)>;

class QuantCodegenTest : public ::testing::Test {
protected:
  QuantCodegenTest() {
    ctx.loadDialect<arith::ArithDialect, func::FuncDialect, math::MathDialect,
                    tensor::TensorDialect>();
  }

  /// A module holding `func.func @f(argTypes) -> (...)` that returns what
  /// `body` emits.
  OwningOpRef<ModuleOp> build(TypeRange argTypes, BodyFn body) {
    Location loc = UnknownLoc::get(&ctx);
    OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
    OpBuilder b = OpBuilder::atBlockBegin(module->getBody());
    auto func = func::FuncOp::create(b, loc, "f",
                                     b.getFunctionType(argTypes, {}));
    Block *entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
    SmallVector<Value> results = body(b, loc, entry->getArguments());
    func::ReturnOp::create(b, loc, results);
    func.setFunctionType(
        b.getFunctionType(argTypes, ValueRange(results).getTypes()));
    return module;
  }

  /// The printed IR of `body` emitted over arguments of `argTypes`.
  std::string emitText(TypeRange argTypes, BodyFn body) {
    OwningOpRef<ModuleOp> module = build(argTypes, body);
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os);
    return text;
  }

  /// The constant values `body` computes, folded by the canonicalizer.
  SmallVector<Attribute> evaluate(BodyFn body) {
    OwningOpRef<ModuleOp> module = build({}, body);
    PassManager pm(&ctx);
    pm.addPass(createCanonicalizerPass());
    EXPECT_TRUE(succeeded(pm.run(*module)));
    auto func = cast<func::FuncOp>(module->getBody()->front());
    SmallVector<Attribute> values;
    for (Value v : func.front().getTerminator()->getOperands()) {
      values.push_back(fold(v));
      EXPECT_TRUE(values.back()) << "not folded to a constant";
    }
    return values;
  }

  /// A constant, or math.fma / arith.truncf of constants, as an attribute.
  Attribute fold(Value v) {
    Attribute attr;
    if (matchPattern(v, m_Constant(&attr)))
      return attr;
    Operation *op = v.getDefiningOp();
    auto floatOf = [&](Value x) -> std::optional<APFloat> {
      if (auto f = dyn_cast_or_null<FloatAttr>(fold(x)))
        return f.getValue();
      return std::nullopt;
    };
    if (auto fma = dyn_cast_or_null<math::FmaOp>(op)) {
      auto a = floatOf(fma.getA()), m = floatOf(fma.getB()),
           c = floatOf(fma.getC());
      if (!a || !m || !c)
        return {};
      a->fusedMultiplyAdd(*m, *c, APFloat::rmNearestTiesToEven);
      return FloatAttr::get(fma.getType(), *a);
    }
    if (auto trunc = dyn_cast_or_null<arith::TruncFOp>(op)) {
      auto a = floatOf(trunc.getIn());
      if (!a)
        return {};
      bool lost;
      a->convert(cast<FloatType>(trunc.getType()).getFloatSemantics(),
                 APFloat::rmNearestTiesToEven, &lost);
      return FloatAttr::get(trunc.getType(), *a);
    }
    return {};
  }

  MLIRContext ctx;
};

Value f32(OpBuilder &b, Location loc, float value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

Value i32(OpBuilder &b, Location loc, int32_t value) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(value));
}

/// The CPU lowering's kind of table: a tensor constant read by tensor.extract.
struct TensorTable {
  Value table;
  Value operator()(OpBuilder &b, Location loc, Value index) const {
    Value i = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), index);
    return tensor::ExtractOp::create(b, loc, table, i);
  }
};

Value tableConstant(OpBuilder &b, Location loc, ArrayRef<float> values) {
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    b.getF32Type());
  return arith::ConstantOp::create(b, loc, type,
                                   DenseElementsAttr::get(type, values));
}

float floatOf(Attribute attr) {
  return cast<FloatAttr>(attr).getValue().convertToFloat();
}

int64_t intOf(Attribute attr) {
  return cast<IntegerAttr>(attr).getValue().getSExtValue();
}

/// Equal bits, or both NaN (the folder's NaN payloads are not specified).
void expectSameFloat(float got, float want, float input) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << "input " << input;
    return;
  }
  EXPECT_EQ(llvm::bit_cast<uint32_t>(got), llvm::bit_cast<uint32_t>(want))
      << "input " << input << ": got " << got << ", want " << want;
}

/// Each value, its neighbours one ulp away, and the special values.
std::vector<float> aroundEach(ArrayRef<float> values) {
  std::vector<float> out = {0.0f,
                            -0.0f,
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            2.0f,
                            -2.0f};
  for (float v : values)
    for (float x :
         {v, std::nextafter(v, -INFINITY), std::nextafter(v, INFINITY)})
      out.push_back(x);
  return out;
}

std::vector<float> uniform(size_t count, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(count);
  for (float &v : out)
    v = dist(rng);
  return out;
}

//===----------------------------------------------------------------------===//
// Blockwise quantization
//===----------------------------------------------------------------------===//

TEST_F(QuantCodegenTest, Encode4bitMatchesLibQuant) {
  for (QuantType type : {QuantType::nf4, QuantType::fp4}) {
    q::QuantType qt = type == QuantType::nf4 ? q::QuantType::NF4
                                             : q::QuantType::FP4;
    ArrayRef<float> thresholds = type == QuantType::nf4
                                     ? ArrayRef<float>(q::kNF4Thresholds)
                                     : ArrayRef<float>(q::kFP4Thresholds);
    std::vector<float> xs = aroundEach(thresholds);
    for (float v : codeTable4bit(type)) {
      xs.push_back(v);
      xs.push_back(-v);
    }
    for (float v : uniform(300, -1.2f, 1.2f, 1))
      xs.push_back(v);
    SmallVector<Attribute> codes =
        evaluate([&](OpBuilder &b, Location loc, ValueRange) {
          SmallVector<Value> out;
          for (float x : xs)
            out.push_back(emitEncode4bit(b, loc, type, f32(b, loc, x)));
          return out;
        });
    for (size_t i = 0; i < xs.size(); ++i)
      EXPECT_EQ(intOf(codes[i]), q::quantize4bitValue(qt, xs[i]))
          << q::quantTypeName(qt).str() << " of " << xs[i];
  }
}

TEST_F(QuantCodegenTest, EncodeDynamicMatchesLibQuant) {
  std::vector<float> mids;
  for (int i = 0; i < 255; ++i)
    mids.push_back((q::kDynamicMap[i] + q::kDynamicMap[i + 1]) * 0.5f);
  std::vector<float> xs = aroundEach(mids);
  for (float v : q::kDynamicMap)
    xs.push_back(v);
  for (float v : uniform(300, -1.1f, 1.1f, 2))
    xs.push_back(v);
  SmallVector<Attribute> codes =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        TensorTable map{tableConstant(b, loc, q::kDynamicMap)};
        SmallVector<Value> out;
        for (float x : xs)
          out.push_back(emitEncodeDynamic(b, loc, f32(b, loc, x), map));
        return out;
      });
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_EQ(intOf(codes[i]), q::quantizeDynamic(xs[i])) << "x = " << xs[i];
}

TEST_F(QuantCodegenTest, NormalizeIsAMultiplyByTheReciprocal) {
  std::vector<float> absmax = {0.0f, 3.0f, 0.1f, 7.3f, 1e-30f,
                               std::numeric_limits<float>::infinity()};
  for (float a : uniform(50, 1e-3f, 100.0f, 3))
    absmax.push_back(a);
  std::vector<float> xs = uniform(absmax.size(), -100.0f, 100.0f, 4);
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> out;
        for (size_t i = 0; i < xs.size(); ++i) {
          Value inverse = emitReciprocal(b, loc, f32(b, loc, absmax[i]));
          out.push_back(emitNormalize(b, loc, f32(b, loc, xs[i]), inverse));
        }
        return out;
      });
  for (size_t i = 0; i < xs.size(); ++i) {
    float inverse = q::reciprocal(absmax[i]);
    expectSameFloat(floatOf(got[i]), xs[i] * inverse, absmax[i]);
  }
}

TEST_F(QuantCodegenTest, NibblesPackHighFirst) {
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> out;
        for (int hi = 0; hi < 16; ++hi)
          for (int lo = 0; lo < 16; ++lo)
            out.push_back(
                emitPackNibbles(b, loc, i32(b, loc, hi), i32(b, loc, lo)));
        for (int byte = 0; byte < 256; ++byte)
          for (bool odd : {false, true})
            out.push_back(emitUnpackNibble(
                b, loc, i32(b, loc, byte),
                arith::ConstantOp::create(b, loc, b.getBoolAttr(odd))));
        return out;
      });
  size_t i = 0;
  for (int hi = 0; hi < 16; ++hi)
    for (int lo = 0; lo < 16; ++lo)
      EXPECT_EQ(intOf(got[i++]), hi * 16 + lo);
  for (int byte = 0; byte < 256; ++byte) {
    EXPECT_EQ(intOf(got[i++]), byte >> 4);
    EXPECT_EQ(intOf(got[i++]), byte & 15);
  }
}

TEST_F(QuantCodegenTest, DoubleQuantAbsmaxMatchesLibQuant) {
  std::vector<float> nested = uniform(256, 0.0f, 0.5f, 5);
  std::vector<float> offsets = uniform(256, -0.1f, 0.3f, 6);
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        TensorTable map{tableConstant(b, loc, q::kDynamicMap)};
        SmallVector<Value> out;
        for (int code = 0; code < 256; ++code)
          out.push_back(emitDoubleQuantAbsmax(
              b, loc, i32(b, loc, code), f32(b, loc, nested[code]),
              f32(b, loc, offsets[code]), map));
        return out;
      });
  for (int code = 0; code < 256; ++code) {
    uint8_t c = code;
    float want;
    q::reconstructAbsmax(&c, &nested[code], offsets[code], 1, &want);
    expectSameFloat(floatOf(got[code]), want, code);
  }
}

TEST_F(QuantCodegenTest, DequantizeValueIsOneProduct) {
  std::vector<float> values = uniform(64, -1.0f, 1.0f, 7);
  std::vector<float> scales = uniform(64, 0.0f, 30.0f, 8);
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> out;
        for (size_t i = 0; i < values.size(); ++i)
          out.push_back(emitDequantizeValue(b, loc, f32(b, loc, values[i]),
                                            f32(b, loc, scales[i])));
        return out;
      });
  for (size_t i = 0; i < values.size(); ++i)
    expectSameFloat(floatOf(got[i]), values[i] * scales[i], values[i]);
}

//===----------------------------------------------------------------------===//
// LLM.int8()
//===----------------------------------------------------------------------===//

TEST_F(QuantCodegenTest, RowScaleMatchesInt8ScaleOnEveryHalfAbsmax) {
  std::vector<float> absmax;
  for (uint16_t bits = 0; bits < 0x7c00; ++bits)
    absmax.push_back(::bnb::halfToFloat(bits));
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> out;
        for (float a : absmax)
          out.push_back(emitInt8RowScale(b, loc, f32(b, loc, a)));
        return out;
      });
  for (size_t i = 0; i < absmax.size(); ++i)
    expectSameFloat(floatOf(got[i]), q::int8Scale(absmax[i]), absmax[i]);
}

TEST_F(QuantCodegenTest, RoundToInt8MatchesLibQuant) {
  std::vector<float> vs = {0.5f,          1.5f,          2.5f,
                           -0.5f,         -1.5f,         -2.5f,
                           126.5f,        127.49f,       127.5f,
                           128.0f,        -128.5f,       -129.0f,
                           255.5f,        775.0f,        -775.0f,
                           1e10f,         -1e10f,        2147483520.0f,
                           2147483648.0f, -2147483648.0f, -2147483904.0f,
                           -0.0f,         0.0f,          std::nanf(""),
                           INFINITY,      -INFINITY};
  for (float v : uniform(200, -300.0f, 300.0f, 9))
    vs.push_back(v);
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> out;
        for (float v : vs)
          out.push_back(emitRoundToInt8(b, loc, f32(b, loc, v)));
        return out;
      });
  for (size_t i = 0; i < vs.size(); ++i)
    EXPECT_EQ(intOf(got[i]), q::roundToInt8(vs[i])) << "v = " << vs[i];
}

TEST_F(QuantCodegenTest, DequantizeInt8MatchesLibQuant) {
  std::mt19937 rng(10);
  std::uniform_int_distribution<int32_t> acc(-(1 << 22), 1 << 22);
  std::vector<float> rows = uniform(100, 0.0f, 12.0f, 11);
  std::vector<float> cols = uniform(100, 0.0f, 12.0f, 12);
  std::vector<float> biases = uniform(100, -4.0f, 4.0f, 13);
  std::vector<int32_t> cs(100);
  for (int32_t &c : cs)
    c = acc(rng);
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> out;
        for (size_t i = 0; i < cs.size(); ++i) {
          // Every other element without a bias.
          Value bias;
          if (i % 2)
            bias = f32(b, loc,
                       ::bnb::halfToFloat(::bnb::floatToHalf(biases[i])));
          out.push_back(emitDequantizeInt8(b, loc, i32(b, loc, cs[i]),
                                           f32(b, loc, rows[i]),
                                           f32(b, loc, cols[i]), bias));
        }
        return out;
      });
  for (size_t i = 0; i < cs.size(); ++i) {
    uint16_t bias = ::bnb::floatToHalf(biases[i]), want;
    q::dequantizeInt8(&cs[i], &rows[i], &cols[i], i % 2 ? &bias : nullptr, 1,
                      1, &want);
    uint16_t bits = cast<FloatAttr>(got[i])
                        .getValue()
                        .bitcastToAPInt()
                        .getZExtValue();
    EXPECT_EQ(bits, want) << "c = " << cs[i];
  }
}

TEST_F(QuantCodegenTest, DequantizeInt8WeightMatchesLibQuant) {
  std::vector<float> scb = uniform(256, 0.0f, 10.0f, 14);
  SmallVector<Attribute> got =
      evaluate([&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> out;
        for (int cb = -128; cb < 128; ++cb)
          out.push_back(emitDequantizeInt8Weight(
              b, loc,
              arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(cb)),
              f32(b, loc, scb[cb + 128])));
        return out;
      });
  for (int cb = -128; cb < 128; ++cb) {
    int8_t code = cb;
    float want;
    q::dequantizeInt8Weight(&code, &scb[cb + 128], 1, 1, &want);
    expectSameFloat(floatOf(got[cb + 128]), want, cb);
  }
}

//===----------------------------------------------------------------------===//
// The operations behind the roundings
//===----------------------------------------------------------------------===//

TEST_F(QuantCodegenTest, EmittedOperations) {
  Type f32Type = Float32Type::get(&ctx), i32Type = IntegerType::get(&ctx, 32);

  // 127 * (1 / absmax): a division of 1, then a multiply; never 127 / absmax.
  std::string scale =
      emitText({f32Type}, [](OpBuilder &b, Location loc, ValueRange args) {
        return SmallVector<Value>{emitInt8RowScale(b, loc, args[0])};
      });
  EXPECT_NE(scale.find("arith.constant 1.000000e+00 : f32"), std::string::npos);
  EXPECT_NE(scale.find("arith.divf %cst, %arg0 : f32"), std::string::npos)
      << scale;
  EXPECT_NE(scale.find("arith.constant 1.270000e+02 : f32"), std::string::npos);
  EXPECT_NE(scale.find("arith.mulf"), std::string::npos);

  // Double quantization rounds twice: no fused multiply-add.
  std::string absmax = emitText(
      {i32Type, f32Type, f32Type},
      [](OpBuilder &b, Location loc, ValueRange args) {
        auto table = [](OpBuilder &b, Location loc, Value) {
          return f32(b, loc, 0.5f);
        };
        return SmallVector<Value>{emitDoubleQuantAbsmax(b, loc, args[0],
                                                        args[1], args[2],
                                                        table)};
      });
  EXPECT_NE(absmax.find("arith.mulf"), std::string::npos) << absmax;
  EXPECT_NE(absmax.find("arith.addf"), std::string::npos) << absmax;
  EXPECT_EQ(absmax.find("math.fma"), std::string::npos) << absmax;

  // int8_mm_dequant: exactly one FMA, with 1/127^2 as the kernel spells it.
  std::string dequant = emitText(
      {i32Type, f32Type, f32Type, f32Type},
      [](OpBuilder &b, Location loc, ValueRange args) {
        return SmallVector<Value>{
            emitDequantizeInt8(b, loc, args[0], args[1], args[2], args[3])};
      });
  EXPECT_NE(dequant.find("arith.constant 6.20001229E-5 : f32"),
            std::string::npos)
      << dequant;
  EXPECT_NE(dequant.find("math.fma"), std::string::npos);
  EXPECT_NE(dequant.find("arith.truncf"), std::string::npos);

  // No emitter allows the backends to contract or reassociate.
  for (const std::string &text : {scale, absmax, dequant})
    EXPECT_EQ(text.find("fastmath"), std::string::npos) << text;
}

} // namespace
