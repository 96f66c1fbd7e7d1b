//===- CpuLoweringTest.cpp - compiled bnb ops vs the numerics library ------===//
//
// Each test builds a function around one bnb op, compiles it with
// bnb-lower-to-cpu, runs it in the JIT on deterministic random data with the
// special values bitsandbytes defines (zero blocks, odd lengths, partial
// blocks, NaN, Inf, outliers) and compares every output bit with lib/Quant,
// the golden model.
//
//===----------------------------------------------------------------------===//

#include "bnb/InitAll.h"
#include "bnb/Pipelines/Pipelines.h"
#include "bnb/Quant/Blockwise.h"
#include "bnb/Support/Float16.h"
#include "bnb/Quant/Int8.h"
#include "bnb/Quant/BnbStateDict.h"
#include "bnb/Quant/Reference.h"
#include "bnb/Target/MemrefArgs.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace mlir;
namespace q = ::bnb::quant;
using ::bnb::DType;

namespace {

/// A host buffer with the bytes of one tensor argument or result.
struct Buffer {
  std::vector<uint8_t> bytes;
  std::vector<int64_t> shape;
};

template <typename T> Buffer makeBuffer(const std::vector<T> &values,
                                        std::vector<int64_t> shape) {
  Buffer b;
  b.shape = std::move(shape);
  b.bytes.resize(values.size() * sizeof(T));
  std::memcpy(b.bytes.data(), values.data(), b.bytes.size());
  return b;
}

Buffer zeroBuffer(size_t bytes, std::vector<int64_t> shape) {
  Buffer b;
  b.bytes.assign(bytes, 0);
  b.shape = std::move(shape);
  return b;
}

template <typename T> std::vector<T> view(const Buffer &b) {
  std::vector<T> out(b.bytes.size() / sizeof(T));
  std::memcpy(out.data(), b.bytes.data(), b.bytes.size());
  return out;
}

std::string mlirType(DType dt) {
  switch (dt) {
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::F32:
    return "f32";
  default:
    return "?";
  }
}

std::string tensorType(llvm::ArrayRef<int64_t> shape, llvm::StringRef elt) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + elt.str() + ">";
}

/// Random float data in `dt`'s bytes: mostly normal values, with exact
/// zeros, a zero block and, when asked, NaN and Inf sprinkled in.
std::vector<uint8_t> randomFloats(DType dt, size_t n, uint32_t seed,
                                  bool specials, int64_t zeroBlock = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  std::vector<uint8_t> out(n * ::bnb::dtypeSize(dt));
  for (size_t i = 0; i < n; ++i) {
    float v = normal(rng);
    if (i % 17 == 3)
      v = 0.0f;
    if (zeroBlock && i >= static_cast<size_t>(zeroBlock) &&
        i < static_cast<size_t>(2 * zeroBlock))
      v = 0.0f;
    if (specials && i % 97 == 50)
      v = NAN;
    if (specials && i % 131 == 70)
      v = (i % 2) ? INFINITY : -INFINITY;
    ::bnb::storeFromFloat(out.data(), dt, i, v);
  }
  return out;
}

/// Element-wise bit equality of two float buffers of `dt`, except that any
/// NaN matches any NaN: NaN payloads are not part of the numerics contract
/// (LLVM, CUDA and torch each pick their own canonical NaN).
::testing::AssertionResult sameFloats(const std::vector<uint8_t> &actual,
                                      const std::vector<uint8_t> &expected,
                                      DType dt) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes differ";
  size_t n = actual.size() / ::bnb::dtypeSize(dt);
  for (size_t i = 0; i < n; ++i) {
    float a = ::bnb::loadAsFloat(actual.data(), dt, i);
    float e = ::bnb::loadAsFloat(expected.data(), dt, i);
    if (std::isnan(a) && std::isnan(e))
      continue;
    if (std::memcmp(actual.data() + i * ::bnb::dtypeSize(dt),
                    expected.data() + i * ::bnb::dtypeSize(dt),
                    ::bnb::dtypeSize(dt)) != 0)
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a << " vs expected " << e;
  }
  return ::testing::AssertionSuccess();
}

class CpuLoweringTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    ::bnb::registerAllPasses();
  }

  CpuLoweringTest() {
    DialectRegistry registry;
    ::bnb::registerAllDialects(registry);
    registerBuiltinDialectTranslation(registry);
    registerLLVMDialectTranslation(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Compiles `source` (a module whose public function @f takes `inputs`
  /// and returns the results), runs it, and fills `outputs`.
  void run(llvm::StringRef source, std::vector<Buffer> &inputs,
           std::vector<Buffer> &outputs) {
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source,
                                                               &context);
    ASSERT_TRUE(module) << source.str();
    PassManager pm(&context);
    mlir::bnb::LowerToCPUPipelineOptions options;
    options.externalizeWeights = false;
    options.runtimeAlloc = false;
    // The portable lowering, bit-exact with lib/Quant; the microkernels have
    // their own tests (test/unit/Runtime/UkernelTest.cpp).
    options.ukernels = false;
    mlir::bnb::buildBnbLowerToCPUPipeline(pm, options);
    ASSERT_TRUE(succeeded(pm.run(*module))) << source.str();
    ExecutionEngineOptions engineOptions;
    auto engine = ExecutionEngine::create(*module, engineOptions);
    ASSERT_TRUE(bool(engine)) << llvm::toString(engine.takeError());
    ::bnb::MemrefArgs args;
    for (Buffer &b : inputs)
      args.add(b.bytes.data(), b.shape);
    for (Buffer &b : outputs)
      args.add(b.bytes.data(), b.shape);
    void **pointers = args.pointers();
    std::vector<void *> packed;
    size_t count = inputs.size() + outputs.size();
    for (size_t i = 0; i < count; ++i)
      packed.push_back(&pointers[i]);
    llvm::Error error = (*engine)->invokePacked("_mlir_ciface_f", packed);
    ASSERT_FALSE(bool(error)) << llvm::toString(std::move(error));
  }

  MLIRContext context;
};

//===----------------------------------------------------------------------===//
// Blockwise 4-bit
//===----------------------------------------------------------------------===//

struct FourBitCase {
  DType dt;
  const char *quantType;
  int64_t blocksize;
  int64_t rows, cols;
  bool specials;
};

class Quantize4bitTest : public CpuLoweringTest,
                         public ::testing::WithParamInterface<FourBitCase> {};

TEST_P(Quantize4bitTest, MatchesLibrary) {
  FourBitCase c = GetParam();
  int64_t n = c.rows * c.cols;
  int64_t bytes = (n + 1) / 2, blocks = (n + c.blocksize - 1) / c.blocksize;
  q::QuantType qt = std::string(c.quantType) == "nf4" ? q::QuantType::NF4
                                                      : q::QuantType::FP4;
  std::string source = llvm::formatv(
      R"mlir(func.func @f(%x: {0}) -> ({1}, {2}) attributes {{llvm.emit_c_interface} {
  %p, %a = bnb.quantize_4bit %x {{quant_type = #bnb.quant_type<{3}>, blocksize = {4} : i64} : {0} -> {1}, {2}
  return %p, %a : {1}, {2}
})mlir",
      tensorType({c.rows, c.cols}, mlirType(c.dt)),
      tensorType({bytes, 1}, "ui8"), tensorType({blocks}, "f32"), c.quantType,
      c.blocksize);
  Buffer x{randomFloats(c.dt, n, 7 + n, c.specials, c.blocksize),
           {c.rows, c.cols}};
  std::vector<Buffer> inputs = {x};
  std::vector<Buffer> outputs = {zeroBuffer(bytes, {bytes, 1}),
                                 zeroBuffer(blocks * 4, {blocks})};
  run(source, inputs, outputs);

  std::vector<uint8_t> packed(bytes);
  std::vector<float> absmax(blocks);
  q::quantize4bit(x.bytes.data(), c.dt, n, qt, c.blocksize, packed.data(),
                  absmax.data());
  EXPECT_EQ(outputs[0].bytes, packed);
  std::vector<uint32_t> got = view<uint32_t>(outputs[1]);
  for (int64_t b = 0; b < blocks; ++b)
    EXPECT_EQ(got[b], ::bnb::floatBits(absmax[b])) << "block " << b;

  // Dequantize the library's bytes with the compiled op, to every dtype.
  for (DType out : {DType::F16, DType::BF16, DType::F32}) {
    std::string deq = llvm::formatv(
        R"mlir(func.func @f(%p: {0}, %a: {1}) -> {2} attributes {{llvm.emit_c_interface} {
  %w = bnb.dequantize_4bit %p, %a {{quant_type = #bnb.quant_type<{3}>, blocksize = {4} : i64} : {0}, {1} -> {2}
  return %w : {2}
})mlir",
        tensorType({bytes, 1}, "ui8"), tensorType({blocks}, "f32"),
        tensorType({c.rows, c.cols}, mlirType(out)), c.quantType, c.blocksize);
    std::vector<Buffer> deqIn = {makeBuffer(packed, {bytes, 1}),
                                 makeBuffer(absmax, {blocks})};
    std::vector<Buffer> deqOut = {
        zeroBuffer(n * ::bnb::dtypeSize(out), {c.rows, c.cols})};
    run(deq, deqIn, deqOut);
    std::vector<uint8_t> expected(n * ::bnb::dtypeSize(out));
    q::dequantize4bit(packed.data(), absmax.data(), n, qt, c.blocksize, out,
                      expected.data());
    EXPECT_TRUE(sameFloats(deqOut[0].bytes, expected, out))
        << "dequantize to " << mlirType(out);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Blocks, Quantize4bitTest,
    ::testing::Values(FourBitCase{DType::F16, "nf4", 64, 32, 96, true},
                      FourBitCase{DType::F16, "fp4", 64, 32, 96, true},
                      FourBitCase{DType::BF16, "nf4", 32, 7, 45, false},
                      FourBitCase{DType::F32, "fp4", 128, 5, 77, true},
                      FourBitCase{DType::F32, "nf4", 4096, 3, 4099, false},
                      FourBitCase{DType::BF16, "fp4", 256, 9, 333, true}));

//===----------------------------------------------------------------------===//
// 8-bit blockwise and double quantization
//===----------------------------------------------------------------------===//

TEST_F(CpuLoweringTest, BlockwiseMatchesLibrary) {
  for (int64_t blocksize : {64, 256}) {
    int64_t n = 1000, blocks = (n + blocksize - 1) / blocksize;
    std::string source = llvm::formatv(
        R"mlir(func.func @f(%x: tensor<{0}xf32>) -> (tensor<{0}xui8>, tensor<{1}xf32>, tensor<{0}xf32>) attributes {{llvm.emit_c_interface} {
  %q, %a = bnb.quantize_blockwise %x {{blocksize = {2} : i64} : tensor<{0}xf32> -> tensor<{0}xui8>, tensor<{1}xf32>
  %d = bnb.dequantize_blockwise %q, %a {{blocksize = {2} : i64} : tensor<{0}xui8>, tensor<{1}xf32> -> tensor<{0}xf32>
  return %q, %a, %d : tensor<{0}xui8>, tensor<{1}xf32>, tensor<{0}xf32>
})mlir",
        n, blocks, blocksize);
    Buffer x{randomFloats(DType::F32, n, 11, true, blocksize), {n}};
    std::vector<Buffer> inputs = {x};
    std::vector<Buffer> outputs = {zeroBuffer(n, {n}),
                                   zeroBuffer(blocks * 4, {blocks}),
                                   zeroBuffer(n * 4, {n})};
    run(source, inputs, outputs);
    std::vector<uint8_t> codes(n);
    std::vector<float> absmax(blocks);
    q::quantizeBlockwise(x.bytes.data(), DType::F32, n, blocksize,
                         codes.data(), absmax.data());
    EXPECT_EQ(outputs[0].bytes, codes) << "blocksize " << blocksize;
    EXPECT_EQ(outputs[1].bytes, makeBuffer(absmax, {}).bytes);
    std::vector<uint8_t> deq(n * 4);
    q::dequantizeBlockwise(codes.data(), absmax.data(), n, blocksize,
                           DType::F32, deq.data());
    EXPECT_TRUE(sameFloats(outputs[2].bytes, deq, DType::F32));
  }
}

//===----------------------------------------------------------------------===//
// LLM.int8() primitives
//===----------------------------------------------------------------------===//

/// Random f16 activations with a few outlier columns.
std::vector<uint16_t> activations(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float v = normal(rng);
      if (c % 13 == 5 && r % 2 == 0)
        v *= 9.0f; // outliers in some columns, some rows
      if (r == 1)
        v = 0.0f; // a zero row
      out[r * cols + c] = ::bnb::floatToHalf(v);
    }
  return out;
}

TEST_F(CpuLoweringTest, QuantizeRowwiseAndOutliersMatchLibrary) {
  int64_t rows = 6, cols = 40;
  std::vector<uint16_t> x = activations(rows, cols, 3);
  for (float threshold : {0.0f, 6.0f, 3.5f}) {
    std::string source = llvm::formatv(
        R"mlir(func.func @f(%x: tensor<{0}x{1}xf16>) -> (tensor<{0}x{1}xi8>, tensor<{0}xf32>) attributes {{llvm.emit_c_interface} {
  %q, %s = bnb.quantize_rowwise %x {{threshold = {2:f2} : f32} : tensor<{0}x{1}xf16> -> tensor<{0}x{1}xi8>, tensor<{0}xf32>
  return %q, %s : tensor<{0}x{1}xi8>, tensor<{0}xf32>
})mlir",
        rows, cols, threshold);
    std::vector<Buffer> inputs = {makeBuffer(x, {rows, cols})};
    std::vector<Buffer> outputs = {zeroBuffer(rows * cols, {rows, cols}),
                                   zeroBuffer(rows * 4, {rows})};
    run(source, inputs, outputs);
    std::vector<int8_t> q8(rows * cols);
    std::vector<float> stats(rows);
    q::quantizeRowwise(x.data(), rows, cols, threshold, q8.data(),
                       stats.data());
    EXPECT_EQ(view<int8_t>(outputs[0]), q8) << "threshold " << threshold;
    EXPECT_EQ(outputs[1].bytes, makeBuffer(stats, {}).bytes);
  }
}

TEST_F(CpuLoweringTest, Int8MatmulAndDequantMatchLibrary) {
  int64_t m = 5, n = 7, k = 33;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> dist(-127, 127);
  std::vector<int8_t> a(m * k), b(n * k);
  for (int8_t &v : a)
    v = dist(rng);
  for (int8_t &v : b)
    v = dist(rng);
  std::vector<float> rowStats(m), colStats(n);
  std::uniform_real_distribution<float> stat(0.01f, 9.0f);
  for (float &v : rowStats)
    v = stat(rng);
  for (float &v : colStats)
    v = stat(rng);
  std::vector<uint16_t> bias(n);
  for (uint16_t &v : bias)
    v = ::bnb::floatToHalf(stat(rng) - 4.0f);
  std::string source = llvm::formatv(
      R"mlir(func.func @f(%a: tensor<{0}x{2}xi8>, %b: tensor<{1}x{2}xi8>, %r: tensor<{0}xf32>, %c: tensor<{1}xf32>, %bias: tensor<{1}xf16>) -> (tensor<{0}x{1}xi32>, tensor<{0}x{1}xf16>, tensor<{0}x{1}xf16>) attributes {{llvm.emit_c_interface} {
  %acc = bnb.int8_matmul %a, %b : tensor<{0}x{2}xi8>, tensor<{1}x{2}xi8> -> tensor<{0}x{1}xi32>
  %y = bnb.dequantize_int8 %acc, %r, %c : tensor<{0}x{1}xi32>, tensor<{0}xf32>, tensor<{1}xf32> -> tensor<{0}x{1}xf16>
  %yb = bnb.dequantize_int8 %acc, %r, %c bias(%bias : tensor<{1}xf16>) : tensor<{0}x{1}xi32>, tensor<{0}xf32>, tensor<{1}xf32> -> tensor<{0}x{1}xf16>
  return %acc, %y, %yb : tensor<{0}x{1}xi32>, tensor<{0}x{1}xf16>, tensor<{0}x{1}xf16>
})mlir",
      m, n, k);
  std::vector<Buffer> inputs = {makeBuffer(a, {m, k}), makeBuffer(b, {n, k}),
                                makeBuffer(rowStats, {m}),
                                makeBuffer(colStats, {n}),
                                makeBuffer(bias, {n})};
  std::vector<Buffer> outputs = {zeroBuffer(m * n * 4, {m, n}),
                                 zeroBuffer(m * n * 2, {m, n}),
                                 zeroBuffer(m * n * 2, {m, n})};
  run(source, inputs, outputs);
  std::vector<int32_t> c(m * n);
  q::int8Matmul(a.data(), b.data(), m, n, k, c.data());
  EXPECT_EQ(view<int32_t>(outputs[0]), c);
  std::vector<uint16_t> y(m * n), yb(m * n);
  q::dequantizeInt8(c.data(), rowStats.data(), colStats.data(), nullptr, m, n,
                    y.data());
  q::dequantizeInt8(c.data(), rowStats.data(), colStats.data(), bias.data(), m,
                    n, yb.data());
  EXPECT_EQ(view<uint16_t>(outputs[1]), y);
  EXPECT_EQ(view<uint16_t>(outputs[2]), yb);
}

//===----------------------------------------------------------------------===//
// Whole layers against the reference forwards
//===----------------------------------------------------------------------===//

struct LayerCase {
  DType x;
  bool bias;
  float threshold;
};

class LinearInt8Test : public CpuLoweringTest,
                       public ::testing::WithParamInterface<LayerCase> {};

TEST_P(LinearInt8Test, MatchesReferenceForward) {
  LayerCase c = GetParam();
  int64_t m = 4, k = 40, n = 24;
  std::vector<uint16_t> xh = activations(m, k, 9);
  std::vector<uint8_t> x(m * k * ::bnb::dtypeSize(c.x));
  for (int64_t i = 0; i < m * k; ++i)
    ::bnb::storeFromFloat(x.data(), c.x, i, ::bnb::halfToFloat(xh[i]));
  std::vector<uint8_t> w = randomFloats(DType::F16, n * k, 13, false);
  q::QuantizedInt8 weight = q::quantizeLinear8bit(w.data(), DType::F16, n, k);
  std::vector<uint8_t> bias = randomFloats(c.x, n, 17, false);
  std::string t = mlirType(c.x);
  std::string biasArg = c.bias ? llvm::formatv(", %b: tensor<{0}x{1}>", n, t).str() : "";
  std::string biasUse = c.bias ? llvm::formatv(" bias(%b : tensor<{0}x{1}>)", n, t).str() : "";
  std::string source = llvm::formatv(
      R"mlir(func.func @f(%x: tensor<{0}x{1}x{3}>, %w: tensor<{2}x{1}xi8>, %s: tensor<{2}xf32>{4}) -> tensor<{0}x{2}x{3}> attributes {{llvm.emit_c_interface} {
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<{2}xf32>){5} {{module = "l", threshold = {6:f2} : f32} : tensor<{0}x{1}x{3}>, tensor<{2}x{1}xi8> -> tensor<{0}x{2}x{3}>
  return %y : tensor<{0}x{2}x{3}>
})mlir",
      m, k, n, t, biasArg, biasUse, c.threshold);
  std::vector<Buffer> inputs = {Buffer{x, {m, k}},
                                makeBuffer(weight.cb, {n, k}),
                                makeBuffer(weight.scb, {n})};
  if (c.bias)
    inputs.push_back(Buffer{bias, {n}});
  std::vector<Buffer> outputs = {zeroBuffer(m * n * ::bnb::dtypeSize(c.x), {m, n})};
  run(source, inputs, outputs);
  std::vector<uint8_t> expected(m * n * ::bnb::dtypeSize(c.x));
  q::linearInt8Reference(x.data(), c.x, m, k, weight.cb.data(),
                         weight.scb.data(), n, c.bias ? bias.data() : nullptr,
                         c.x, c.threshold, expected.data());
  EXPECT_EQ(outputs[0].bytes, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Layers, LinearInt8Test,
    ::testing::Values(LayerCase{DType::F16, true, 6.0f},
                      LayerCase{DType::F16, false, 0.0f},
                      LayerCase{DType::BF16, true, 6.0f},
                      LayerCase{DType::F32, true, 3.0f},
                      LayerCase{DType::F32, false, 0.0f}));

struct FourBitLayerCase {
  DType x;
  DType compute;
  const char *quantType;
  bool nested;
  bool bias;
};

class Linear4bitTest
    : public CpuLoweringTest,
      public ::testing::WithParamInterface<FourBitLayerCase> {};

TEST_P(Linear4bitTest, MatchesReferenceForward) {
  FourBitLayerCase c = GetParam();
  int64_t m = 3, k = 96, n = 40, blocksize = 64;
  int64_t numel = n * k, blocks = numel / blocksize;
  q::QuantType qt = std::string(c.quantType) == "nf4" ? q::QuantType::NF4
                                                      : q::QuantType::FP4;
  std::vector<uint8_t> w = randomFloats(DType::F16, numel, 21, false);
  q::Quantized4bit weight = q::quantizeLinear4bit(
      w.data(), DType::F16, {n, k}, qt, blocksize, c.nested, DType::U8);
  std::vector<uint8_t> x = randomFloats(c.x, m * k, 23, false);
  std::vector<uint8_t> bias = randomFloats(c.x, n, 29, false);
  std::string t = mlirType(c.x);
  std::string absmaxArgs, absmaxUse, offsetAttr;
  std::vector<Buffer> inputs = {Buffer{x, {m, k}},
                                makeBuffer(weight.packed, {numel / 2, 1})};
  if (c.nested) {
    int64_t nested = weight.nested->nestedAbsmax.size();
    absmaxArgs = llvm::formatv(", %a: tensor<{0}xui8>, %na: tensor<{1}xf32>",
                               blocks, nested);
    absmaxUse = llvm::formatv(" absmax(%a : tensor<{0}xui8>) nested(%na : "
                              "tensor<{1}xf32>)",
                              blocks, nested);
    offsetAttr = llvm::formatv(", nested_offset = {0:e} : f32",
                               weight.nested->offset);
    inputs.push_back(makeBuffer(weight.nested->codes, {blocks}));
    inputs.push_back(makeBuffer(weight.nested->nestedAbsmax, {nested}));
  } else {
    absmaxArgs = llvm::formatv(", %a: tensor<{0}xf32>", blocks);
    absmaxUse = llvm::formatv(" absmax(%a : tensor<{0}xf32>)", blocks);
    inputs.push_back(makeBuffer(weight.absmax, {blocks}));
  }
  std::string biasArg = c.bias ? llvm::formatv(", %b: tensor<{0}x{1}>", n, t).str() : "";
  std::string biasUse = c.bias ? llvm::formatv(" bias(%b : tensor<{0}x{1}>)", n, t).str() : "";
  if (c.bias)
    inputs.push_back(Buffer{bias, {n}});
  std::string source = llvm::formatv(
      R"mlir(func.func @f(%x: tensor<{0}x{1}x{3}>, %w: tensor<{4}x1xui8>{5}{6}) -> tensor<{0}x{2}x{3}> attributes {{llvm.emit_c_interface} {
  %y = bnb.linear_4bit %x, %w{7}{8} {{module = "l", quant_type = #bnb.quant_type<{9}>, compute_dtype = {10}, shape = array<i64: {2}, {1}>{11}} : tensor<{0}x{1}x{3}>, tensor<{4}x1xui8> -> tensor<{0}x{2}x{3}>
  return %y : tensor<{0}x{2}x{3}>
})mlir",
      m, k, n, t, numel / 2, absmaxArgs, biasArg, absmaxUse, biasUse,
      c.quantType, mlirType(c.compute), offsetAttr);
  std::vector<Buffer> outputs = {zeroBuffer(m * n * ::bnb::dtypeSize(c.x), {m, n})};
  run(source, inputs, outputs);
  std::vector<uint8_t> expected(m * n * ::bnb::dtypeSize(c.x));
  if (c.nested)
    q::linear4bitReferenceNested(
        x.data(), c.x, m, k, weight.packed.data(), weight.nested->codes.data(),
        weight.nested->nestedAbsmax.data(), weight.nested->offset, qt,
        blocksize, n, c.bias ? bias.data() : nullptr, c.x, c.compute,
        expected.data());
  else
    q::linear4bitReference(x.data(), c.x, m, k, weight.packed.data(),
                           weight.absmax.data(), qt, blocksize, n,
                           c.bias ? bias.data() : nullptr, c.x, c.compute,
                           expected.data());
  EXPECT_EQ(outputs[0].bytes, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Layers, Linear4bitTest,
    ::testing::Values(
        FourBitLayerCase{DType::F16, DType::F32, "fp4", false, false},
        FourBitLayerCase{DType::F16, DType::F32, "nf4", true, true},
        FourBitLayerCase{DType::BF16, DType::BF16, "nf4", true, true},
        FourBitLayerCase{DType::F16, DType::F16, "fp4", true, false},
        FourBitLayerCase{DType::F32, DType::F32, "nf4", false, true},
        FourBitLayerCase{DType::BF16, DType::F16, "nf4", false, true}));

} // namespace

namespace {

/// has_fp16_weight: the float weight is quantized at run time with
/// int8_vectorwise_quant (threshold 0) of its f16 cast; a Conv1D weight
/// ([in, out]) is transposed first.
struct FloatWeightCase {
  DType w;
  bool conv1d;
};

class LinearInt8FloatWeightTest
    : public CpuLoweringTest,
      public ::testing::WithParamInterface<FloatWeightCase> {};

TEST_P(LinearInt8FloatWeightTest, MatchesReferenceForward) {
  FloatWeightCase c = GetParam();
  int64_t m = 3, k = 40, n = 24;
  std::vector<uint16_t> x = activations(m, k, 31);
  std::vector<uint8_t> w = randomFloats(c.w, n * k, 37, false);
  // The layer stores a Conv1D weight as [k, n].
  std::vector<uint8_t> stored = w;
  size_t elem = ::bnb::dtypeSize(c.w);
  if (c.conv1d)
    for (int64_t r = 0; r < n; ++r)
      for (int64_t col = 0; col < k; ++col)
        std::memcpy(stored.data() + (col * n + r) * elem,
                    w.data() + (r * k + col) * elem, elem);
  std::string wt = mlirType(c.w);
  std::string wshape = c.conv1d ? llvm::formatv("{0}x{1}", k, n).str()
                                : llvm::formatv("{0}x{1}", n, k).str();
  std::string source = llvm::formatv(
      R"mlir(func.func @f(%x: tensor<{0}x{1}xf16>, %w: tensor<{3}x{4}>) -> tensor<{0}x{2}xf16> attributes {{llvm.emit_c_interface} {
  %y = bnb.linear_int8 %x, %w {{module = "l", has_fp16_weight{5}} : tensor<{0}x{1}xf16>, tensor<{3}x{4}> -> tensor<{0}x{2}xf16>
  return %y : tensor<{0}x{2}xf16>
})mlir",
      m, k, n, wshape, wt, c.conv1d ? ", conv1d" : "");
  std::vector<int64_t> storedShape =
      c.conv1d ? std::vector<int64_t>{k, n} : std::vector<int64_t>{n, k};
  std::vector<Buffer> inputs = {makeBuffer(x, {m, k}),
                                Buffer{stored, storedShape}};
  std::vector<Buffer> outputs = {zeroBuffer(m * n * 2, {m, n})};
  run(source, inputs, outputs);
  std::vector<uint16_t> expected(m * n);
  q::linearInt8FromFloatWeight(x.data(), DType::F16, m, k, w.data(), c.w, n,
                               nullptr, DType::F16, 6.0f, expected.data());
  EXPECT_EQ(view<uint16_t>(outputs[0]), expected);
}

INSTANTIATE_TEST_SUITE_P(Layers, LinearInt8FloatWeightTest,
                         ::testing::Values(FloatWeightCase{DType::F16, false},
                                           FloatWeightCase{DType::BF16, true},
                                           FloatWeightCase{DType::F32, false}));
} // namespace
