//===- bnb-opt.cpp - mlir-opt with the bnb dialect ------------------------===//
//
// The optimizer driver for bnb: every upstream dialect and pass plus the bnb
// dialect, passes and pipelines. It opens the input itself so that textual
// MLIR nested too deeply for the recursive parser is refused with one line
// (bnb/Support/MlirNesting.h) and every file error carries "error:".
//
//===----------------------------------------------------------------------===//

#include "bnb/InitAll.h"
#include "bnb/Support/Escape.h"
#include "bnb/Support/MlirNesting.h"
#include "bnb/Support/MlirParserGuards.h"
#include "bnb/Support/ToolCommandLine.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

namespace {
int fail(const llvm::Twine &message) {
  llvm::errs() << "error: " << bnb::escapeForMessage(message.str()) << "\n";
  return 1;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "bnb-mlir version " << bnb::getVersion() << "\n";
  });
  bnb::registerAllPasses();
  mlir::DialectRegistry registry;
  bnb::registerAllDialects(registry);
  static llvm::cl::opt<std::string> inputFile(
      llvm::cl::Positional, llvm::cl::desc("<input file>"),
      llvm::cl::init("-"));
  static llvm::cl::opt<std::string> outputFile(
      "o", llvm::cl::desc("Output filename"),
      llvm::cl::value_desc("filename"), llvm::cl::init("-"));
  std::string overview =
      mlir::registerCLIOptions("bnb optimizer driver\n", registry);
  if (!bnb::parseToolCommandLine(argc, argv, overview))
    return 1;
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();
  // Listing modes read no input.
  if (config.shouldShowDialects() || config.shouldListPasses())
    return mlir::asMainReturnCode(
        mlir::MlirOptMain(argc, argv, inputFile, outputFile, registry));

  std::string message;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFile, &message);
  if (!input)
    return fail(message);
  if (llvm::Error error =
          bnb::checkMlirNesting(input->getBuffer(), inputFile))
    return fail(llvm::toString(std::move(error)));
  if (llvm::Error error =
          bnb::checkMlirParserGuards(input->getBuffer(), inputFile))
    return fail(llvm::toString(std::move(error)));
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFile, &message);
  if (!output)
    return fail(message);
  if (mlir::failed(mlir::MlirOptMain(output->os(), std::move(input), registry,
                                     config)))
    return 1;
  output->keep();
  return 0;
}
