//===- PendingWeightsWriteTest.cpp - bnb-quantize-weights, written later ---===//
//
// bnb-compile writes the weights file on a thread of its own while it
// compiles: bnb-quantize-weights rewrites the IR and hands the writing back.
// Checked here: the handed-back write produces the very file the pass writes
// itself; the IR is final (and names the file) before a byte is written; a
// cancelled write leaves no file; and an error found only while writing (the
// input changed under the compiler) is reported at the layer op, as the pass
// reports it.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/PendingWeightsWrite.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/InitAll.h"
#include "bnb/Support/Float16.h"
#include "bnb/Support/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fcntl.h>
#include <unistd.h>

using namespace mlir;
using namespace mlir::bnb;

namespace {

// One NF4 + double quantization layer on a 256x256 f16 weight (128 KiB, so
// that the input is memory-mapped), at a location the errors must name.
constexpr const char *kGraph = R"mlir(
module attributes {bnb.config = #bnb.config<load_in_4bit = true, bnb_4bit_quant_type = "nf4", bnb_4bit_use_double_quant = true>} {
  ml_program.global private @"up.weight"(#ml_program.extern : tensor<256x256xf16>) : tensor<256x256xf16>
  func.func @forward(%x: tensor<2x256xf16>) -> tensor<2x256xf16> {
    %w = ml_program.global_load_const @"up.weight" : tensor<256x256xf16>
    %y = bnb.linear_4bit %x, %w {module = "up", quant_type = #bnb.quant_type<nf4>, compute_dtype = f32, shape = array<i64: 256, 256>} : tensor<2x256xf16>, tensor<256x256xf16> -> tensor<2x256xf16> loc("graph.mlir":7:10)
    return %y : tensor<2x256xf16>
  }
}
)mlir";

constexpr int64_t kSide = 256;

/// f16 bits of a smooth, sign-alternating weight scaled by `scale`.
std::vector<uint8_t> weightBytes(float scale) {
  std::vector<uint8_t> bytes(kSide * kSide * 2);
  for (int64_t i = 0; i < kSide * kSide; ++i) {
    uint16_t h = ::bnb::floatToHalf(scale * std::sin(0.37f * float(i)));
    bytes[2 * i] = uint8_t(h);
    bytes[2 * i + 1] = uint8_t(h >> 8);
  }
  return bytes;
}

class PendingWeightsWriteTest : public ::testing::Test {
protected:
  PendingWeightsWriteTest() {
    DialectRegistry registry;
    ::bnb::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("pending-write", dir));
    input = file("in.safetensors");
    auto writer = ::bnb::SafetensorsWriter::create(
        input, {{"up.weight", ::bnb::DType::F16, {kSide, kSide}}});
    EXPECT_TRUE(bool(writer));
    EXPECT_FALSE((*writer)->write("up.weight", weightBytes(1.0f)));
    EXPECT_FALSE((*writer)->commit());
  }

  ~PendingWeightsWriteTest() override {
    llvm::sys::fs::remove_directories(dir);
  }

  std::string file(llvm::StringRef name) const {
    llvm::SmallString<128> p(dir);
    llvm::sys::path::append(p, name);
    return p.str().str();
  }

  /// The graph after bnb-quantize-weights writing `output` (handing the
  /// writing to `pending` when given).
  OwningOpRef<ModuleOp> quantize(llvm::StringRef output,
                                 std::unique_ptr<PendingWeightsWrite> *pending) {
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(kGraph, &context);
    EXPECT_TRUE(module);
    BnbQuantizeWeightsOptions options;
    options.weightsPath = input;
    options.outputPath = output.str();
    PassManager pm(&context);
    pm.addPass(pending ? createBnbQuantizeWeights(options, pending)
                       : createBnbQuantizeWeights(options));
    EXPECT_TRUE(succeeded(pm.run(*module)));
    return module;
  }

  std::string contents(llvm::StringRef path) {
    auto buffer = llvm::MemoryBuffer::getFile(path);
    EXPECT_TRUE(bool(buffer)) << path.str();
    return buffer ? (*buffer)->getBuffer().str() : std::string();
  }

  MLIRContext context;
  llvm::SmallString<128> dir;
  std::string input;
};

std::string printed(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

TEST_F(PendingWeightsWriteTest, WritesTheFileThePassWouldWrite) {
  OwningOpRef<ModuleOp> direct = quantize(file("direct.safetensors"), nullptr);
  std::unique_ptr<PendingWeightsWrite> pending;
  std::string later = file("later.safetensors");
  OwningOpRef<ModuleOp> deferred = quantize(later, &pending);
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->getOutputPath(), later);
  // The IR is final before the file exists, and differs from the direct
  // pass's only in the file it names.
  EXPECT_FALSE(llvm::sys::fs::exists(later));
  std::string directText = printed(*direct), deferredText = printed(*deferred);
  size_t at = directText.find("direct.safetensors");
  ASSERT_NE(at, std::string::npos);
  directText.replace(at, strlen("direct"), "later");
  EXPECT_EQ(directText, deferredText);
  EXPECT_NE(deferredText.find("nested_offset"), std::string::npos);

  ASSERT_FALSE(llvm::errorToBool(pending->write()));
  EXPECT_EQ(contents(later), contents(file("direct.safetensors")));
}

TEST_F(PendingWeightsWriteTest, CancelledWriteLeavesNoFile) {
  std::unique_ptr<PendingWeightsWrite> pending;
  std::string out = file("out.safetensors");
  OwningOpRef<ModuleOp> module = quantize(out, &pending);
  ASSERT_TRUE(pending);
  pending->cancel();
  llvm::Error error = pending->write();
  ASSERT_TRUE(bool(error));
  EXPECT_NE(llvm::toString(std::move(error)).find("was cancelled"),
            std::string::npos);
  EXPECT_FALSE(llvm::sys::fs::exists(out));
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    EXPECT_EQ(llvm::sys::path::filename(it->path()).str().find("out"),
              std::string::npos)
        << it->path();
}

TEST_F(PendingWeightsWriteTest, InputChangedBeforeWritingIsALayerError) {
  std::unique_ptr<PendingWeightsWrite> pending;
  std::string out = file("out.safetensors");
  OwningOpRef<ModuleOp> module = quantize(out, &pending);
  ASSERT_TRUE(pending);
  // Another process rewrites the weight in place after the plan (which
  // baked the double quantization offset into the IR): the bytes to write
  // no longer match the IR, and the write must fail, not write them.
  auto changed = weightBytes(3.0f);
  int fd = ::open(input.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  off_t dataStart = 0;
  {
    auto buffer = llvm::MemoryBuffer::getFile(input);
    ASSERT_TRUE(bool(buffer));
    dataStart = off_t((*buffer)->getBufferSize() - changed.size());
  }
  ASSERT_EQ(::pwrite(fd, changed.data(), changed.size(), dataStart),
            ssize_t(changed.size()));
  ::close(fd);

  llvm::Error error = pending->write();
  ASSERT_TRUE(bool(error));
  std::string diagnostic;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      std::string loc;
      llvm::raw_string_ostream os(loc);
      os << diag.getLocation() << ": " << diag.str();
      diagnostic = loc;
      return success();
    });
    pending->emit(std::move(error));
  }
  EXPECT_EQ(diagnostic, "loc(\"graph.mlir\":7:10): 'bnb.linear_4bit' op "
                        "nested offset changed between passes");
  EXPECT_FALSE(llvm::sys::fs::exists(out));
}

} // namespace
