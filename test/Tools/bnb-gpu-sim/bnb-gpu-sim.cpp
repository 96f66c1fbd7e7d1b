//===- bnb-gpu-sim.cpp - run GPU-dialect programs on the CPU --------------===//
//
// A test tool: runs a host function of a module produced by
// convert-bnb-to-gpu (and bufferization) or by the GPU pipeline's mapping
// passes, with its kernels interpreted on the CPU, reading its arguments from
// .npy files and writing its results to .npy files.
//
//   bnb-gpu-sim module.mlir --entry forward --input x.npy --input w.npy
//               --output y.npy
//
// --updated-input N=FILE writes input N (counted from 0) after the run, for
// arguments the function updates in place (KV caches).
//
//===----------------------------------------------------------------------===//

#include "Simulator.h"

#include "bnb/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<module>"),
                                      cl::Required);
static cl::opt<std::string> entry("entry", cl::desc("Function to run"),
                                  cl::Required);
static cl::list<std::string> inputs("input", cl::desc("Argument .npy file"));
static cl::list<std::string> outputs("output", cl::desc("Result .npy file"));
static cl::list<std::string>
    updatedInputs("updated-input",
                  cl::desc("N=FILE: write input N after the run to FILE"));
static cl::opt<bool> printLaunches("print-launches",
                                   cl::desc("Print the number of launches"));

static int fail(const Twine &msg) {
  WithColor::error(errs(), "bnb-gpu-sim") << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "bnb GPU-dialect simulator\n");

  mlir::DialectRegistry registry;
  bnb::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Errors name the operation and its location; the generic form of the
  // operation would add nothing but noise.
  context.printOpOnDiagnostic(false);
  SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(inputFile, sourceMgr, &context);
  if (!module)
    return 1;

  std::vector<bnb::sim::NpyArray> args;
  for (const std::string &path : inputs) {
    Expected<bnb::sim::NpyArray> array = bnb::sim::readNpy(path);
    if (!array)
      return fail(toString(array.takeError()));
    args.push_back(std::move(*array));
  }
  bnb::sim::Simulator sim(*module);
  std::vector<bnb::sim::NpyArray> results;
  if (mlir::failed(sim.run(entry, args, results)))
    return 1;
  if (results.size() != outputs.size())
    return fail("@" + entry + " returns " + Twine(results.size()) +
                " results but " + Twine(outputs.size()) + " --output given");
  for (auto [path, array] : llvm::zip(outputs, results))
    if (Error err = bnb::sim::writeNpy(path, array))
      return fail(toString(std::move(err)));
  for (StringRef spec : updatedInputs) {
    auto [index, path] = spec.split('=');
    unsigned n = 0;
    if (path.empty() || index.getAsInteger(10, n) || n >= args.size())
      return fail("--updated-input '" + spec + "': expected N=FILE with N "
                  "below the number of inputs");
    mlir::FailureOr<bnb::sim::NpyArray> array = sim.inputAfterRun(n);
    if (mlir::failed(array))
      return 1;
    if (Error err = bnb::sim::writeNpy(path, *array))
      return fail(toString(std::move(err)));
  }
  if (printLaunches)
    outs() << "launches: " << sim.numLaunches() << "\n";
  return 0;
}
