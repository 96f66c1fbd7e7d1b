//===- ComputeDtypeOverride.cpp - bnb-compile --bnb-4bit-compute-dtype ----===//

#include "ComputeDtypeOverride.h"

#include "bnb/Dialect/Bnb/IR/BnbOps.h"
#include "bnb/Dialect/Bnb/Utils/DTypeMapping.h"
#include "bnb/Quant/ConfigRules.h"
#include "bnb/Support/DType.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;

namespace bnb::tools {
llvm::Expected<Type> parseComputeDtypeFlag(MLIRContext *ctx,
                                           llvm::StringRef name) {
  std::optional<DType> dtype = parseTorchDtype(name);
  if (!dtype || !llvm::is_contained(quant::kComputeDtypeNames,
                                    torchDtypeName(*dtype)))
    return llvm::createStringError(
        "--bnb-4bit-compute-dtype '" + name + "' is not one of " +
        llvm::join(llvm::ArrayRef<llvm::StringLiteral>(
                       quant::kComputeDtypeNames),
                   ", "));
  return mlir::bnb::fromDType(ctx, *dtype);
}

llvm::Expected<mlir::bnb::ConfigAttr>
overrideComputeDtype(ModuleOp module, mlir::bnb::ConfigAttr config,
                     Type dtype) {
  // Only 4-bit layers have a compute dtype; a flag that changes nothing is
  // more likely a mistake than a request.
  if (!config.getLoadIn4bit())
    return llvm::createStringError(
        "--bnb-4bit-compute-dtype applies to 4-bit layers, and the "
        "quantization_config does not load in 4-bit");
  module.walk([&](mlir::bnb::Linear4bitOp layer) {
    layer.setComputeDtypeAttr(TypeAttr::get(dtype));
  });
  return mlir::bnb::ConfigAttr::get(
      module.getContext(), config.getLoadIn8bit(), config.getLoadIn4bit(),
      config.getLlmInt8Threshold(), config.getLlmInt8SkipModules(),
      config.getLlmInt8EnableFp32CpuOffload(),
      config.getLlmInt8HasFp16Weight(), dtype, config.getBnb4bitQuantType(),
      config.getBnb4bitUseDoubleQuant(), config.getBnb4bitQuantStorage());
}
} // namespace bnb::tools
