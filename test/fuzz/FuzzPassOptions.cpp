//===- FuzzPassOptions.cpp - libFuzzer target: bnb-replace-linear options -===//
//
// The pass-option form of the quantization config: the input is the option
// text of `bnb-replace-linear{...}` (load-in-4bit=true
// bnb-4bit-quant-type=nf4 ...). The target parses the pipeline as bnb-opt
// does and runs it on a one-linear graph, which resolves the options against
// the module's #bnb.config and validates them.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/IR/BnbDialect.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstddef>
#include <cstdint>

namespace {
/// One nn.Linear with its weight inline: y = x * W^T.
constexpr llvm::StringLiteral kGraph = R"mlir(
module {
  ml_program.global private @"l.weight"(dense<1.0> : tensor<4x64xf16>) : tensor<4x64xf16>
  func.func @forward(%x: tensor<2x64xf16>) -> tensor<2x4xf16> {
    %w = ml_program.global_load_const @"l.weight" : tensor<4x64xf16>
    %e = tensor.empty() : tensor<2x4xf16>
    %z = arith.constant 0.0 : f16
    %f = linalg.fill ins(%z : f16) outs(%e : tensor<2x4xf16>) -> tensor<2x4xf16>
    %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>] ins(%x, %w : tensor<2x64xf16>, tensor<4x64xf16>) outs(%f : tensor<2x4xf16>) -> tensor<2x4xf16>
    return %y : tensor<2x4xf16>
  }
}
)mlir";
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry *registry = [] {
    mlir::bnb::registerBnbReplaceLinear();
    auto *r = new mlir::DialectRegistry();
    r->insert<mlir::bnb::BnbDialect, mlir::arith::ArithDialect,
              mlir::func::FuncDialect, mlir::linalg::LinalgDialect,
              mlir::ml_program::MLProgramDialect,
              mlir::tensor::TensorDialect>();
    return r;
  }();
  llvm::StringRef options(reinterpret_cast<const char *>(data), size);
  // The options of one pass: no braces of their own, as on a command line.
  if (options.contains('{') || options.contains('}'))
    return 0;
  mlir::MLIRContext context(*registry,
                            mlir::MLIRContext::Threading::DISABLED);
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kGraph, &context);
  if (!module)
    __builtin_trap();
  mlir::PassManager pm(&context);
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (mlir::failed(mlir::parsePassPipeline(
          ("builtin.module(bnb-replace-linear{" + options + "})").str(), pm,
          os)))
    return 0;
  (void)pm.run(*module);
  return 0;
}
