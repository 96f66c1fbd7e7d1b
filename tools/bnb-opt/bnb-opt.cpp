//===- bnb-opt.cpp - mlir-opt with the bnb dialect ------------------------===//
//
// The optimizer driver for bnb: every upstream dialect and pass plus the bnb
// dialect, passes and pipelines.
//
//===----------------------------------------------------------------------===//

#include "bnb/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "bnb-mlir version " << bnb::getVersion() << "\n";
  });
  bnb::registerAllPasses();
  mlir::DialectRegistry registry;
  bnb::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "bnb optimizer driver\n", registry));
}
