//===- FuzzMlir.cpp - libFuzzer target: parse + verify of the bnb dialect -===//
//
// What bnb-opt and bnb-compile do first with a model graph: check its
// nesting depth, parse the text with the bnb dialect and the upstream
// dialects of a model graph registered, and verify it (every bnb op and
// attribute verifier runs).
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/IR/BnbDialect.h"
#include "bnb/Support/MlirNesting.h"
#include "bnb/Support/MlirParserGuards.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry();
    r->insert<mlir::bnb::BnbDialect, mlir::arith::ArithDialect,
              mlir::func::FuncDialect, mlir::linalg::LinalgDialect,
              mlir::math::MathDialect, mlir::memref::MemRefDialect,
              mlir::ml_program::MLProgramDialect,
              mlir::tensor::TensorDialect>();
    return r;
  }();
  mlir::MLIRContext context(*registry,
                            mlir::MLIRContext::Threading::DISABLED);
  context.allowUnregisteredDialects(false);
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  // As bnb-opt and bnb-compile: text nested deeper than the limit is
  // refused before MLIR's recursive parser sees it.
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  if (llvm::Error error = bnb::checkMlirNesting(text, "fuzz.mlir")) {
    llvm::consumeError(std::move(error));
    return 0;
  }
  if (llvm::Error error = bnb::checkMlirParserGuards(text, "fuzz.mlir")) {
    llvm::consumeError(std::move(error));
    return 0;
  }
  // As the tools read a file: a NUL-terminated buffer, which MLIR's lexer
  // relies on (parseSourceString's unterminated view would be read past
  // its end).
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(text, "fuzz.mlir"),
      llvm::SMLoc());
  mlir::ParserConfig config(&context, /*verifyAfterParse=*/true);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, config);
  (void)module;
  return 0;
}
