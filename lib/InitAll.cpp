//===- InitAll.cpp - register everything bnb tools need -------------------===//

#include "bnb/InitAll.h"
#include "bnb/Config.h"
#include "bnb/Dialect/Bnb/IR/BnbDialect.h"
#include "bnb/Conversion/Passes.h"
#include "bnb/Dialect/Bnb/Transforms/Passes.h"
#include "bnb/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void bnb::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::bnb::BnbDialect>();
  // bnb-opt stands in for mlir-opt in our lit tests and for users extending
  // the pipeline, so it accepts every upstream dialect mlir-opt does.
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates kernels to LLVM IR in process.
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::bnb::registerGPULaunchMemoryEffects(registry);
}

void bnb::registerAllPasses() {
  mlir::registerAllPasses();
  // The generated group registrations: every pass declared in the two
  // Passes.td files, so a new pass cannot be left out of bnb-opt.
  mlir::bnb::registerBnbPasses();
  mlir::bnb::registerBnbConversionPasses();
  mlir::bnb::registerBnbPipelines();
  mlir::bnb::registerBnbNVVMPipeline();
}

const char *bnb::getVersion() { return BNB_VERSION_STRING; }
