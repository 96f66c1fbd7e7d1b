//===- MemoryReportPass.cpp - bnb-memory-report ---------------------------===//
//
// Prints the MemoryReport analysis as a table or JSON. The IR is not
// changed.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/MemoryReport.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Dialect/Bnb/IR/BnbDialect.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/ToolOutputFile.h"

namespace mlir::bnb {
#define GEN_PASS_DEF_BNBMEMORYREPORT
#include "bnb/Dialect/Bnb/Transforms/Passes.h.inc"
} // namespace mlir::bnb

using namespace mlir;
using namespace mlir::bnb;

namespace {
struct BnbMemoryReportPass
    : public mlir::bnb::impl::BnbMemoryReportBase<BnbMemoryReportPass> {
  using Base::Base;

  void runOnOperation() override {
    const MemoryReport &report = getAnalysis<MemoryReport>();
    if (report.failed())
      return signalPassFailure();
    std::string errorMessage;
    std::unique_ptr<llvm::ToolOutputFile> file =
        openOutputFile(outputPath, &errorMessage);
    if (!file) {
      getOperation().emitError()
          << "cannot write the memory report: " << errorMessage;
      return signalPassFailure();
    }
    if (json)
      file->os() << llvm::formatv("{0:2}", report.toJson()) << "\n";
    else
      report.printTable(file->os());
    file->keep();
    markAllAnalysesPreserved();
  }
};
} // namespace
