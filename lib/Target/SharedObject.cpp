//===- SharedObject.cpp - lowered module -> model.so -----------------------===//

#include "SharedObject.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

using namespace llvm;

namespace {
Error addPackedWrapper(Module &module, const bnb::EntryPoint &entry) {
  Function *ciface = module.getFunction("_mlir_ciface_" + entry.name);
  if (!ciface)
    return createStringError("the lowered module has no C interface for "
                             "entry point '" +
                             entry.name + "'");
  size_t expected =
      entry.inputs.size() + entry.weights.size() + entry.outputs.size();
  if (ciface->arg_size() != expected || !ciface->getReturnType()->isVoidTy())
    return createStringError(
        "entry point '" + entry.name + "' lowered to " +
        Twine(ciface->arg_size()) + " arguments, expected " + Twine(expected) +
        " memref descriptors (inputs, weights, then outputs)");
  LLVMContext &ctx = module.getContext();
  PointerType *ptr = PointerType::getUnqual(ctx);
  FunctionType *type = FunctionType::get(Type::getVoidTy(ctx), {ptr}, false);
  Function *wrapper = Function::Create(type, GlobalValue::ExternalLinkage,
                                       entry.symbol, module);
  IRBuilder<> b(BasicBlock::Create(ctx, "entry", wrapper));
  SmallVector<Value *> args;
  for (unsigned i = 0; i < ciface->arg_size(); ++i) {
    Value *slot = b.CreateConstGEP1_64(ptr, wrapper->getArg(0), i);
    args.push_back(b.CreateLoad(ptr, slot));
  }
  b.CreateCall(ciface, args);
  b.CreateRetVoid();
  return Error::success();
}

/// The C compiler driver that links model.so.
Expected<std::string> findLinkerDriver() {
  for (StringRef name : {"cc", "gcc", "clang", "clang-22"})
    if (ErrorOr<std::string> path = sys::findProgramByName(name))
      return *path;
  if (sys::fs::can_execute("/usr/lib/llvm-22/bin/clang"))
    return std::string("/usr/lib/llvm-22/bin/clang");
  return createStringError("no C compiler driver (cc, gcc or clang) found to "
                           "link the shared object");
}
} // namespace

Error bnb::emitSharedObject(mlir::ModuleOp module,
                            ArrayRef<EntryPoint> entries, unsigned optLevel,
                            StringRef path, CpuTarget &cpu) {
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  LLVMContext ctx;
  std::unique_ptr<Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, ctx, "model");
  if (!llvmModule)
    return createStringError("translation to LLVM IR failed");

  Triple triple(sys::getDefaultTargetTriple());
  std::string error;
  const Target *target = TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return createStringError("no LLVM target for " + triple.str() + ": " +
                             error);
  TargetOptions targetOptions;
  std::unique_ptr<TargetMachine> machine(target->createTargetMachine(
      triple, cpu.cpu, cpu.features, targetOptions, Reloc::PIC_, std::nullopt,
      CodeGenOptLevel::Default));
  if (!machine)
    return createStringError("cannot generate code for CPU '" + cpu.cpu + "'");
  cpu.required.clear();
  if (triple.isX86()) {
    const MCSubtargetInfo *sti = machine->getMCSubtargetInfo();
    for (StringRef feature : checkedCpuFeatures())
      if (sti->checkFeatures(("+" + feature).str()))
        cpu.required.push_back(feature.str());
  }
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);

  for (const EntryPoint &entry : entries)
    if (Error e = addPackedWrapper(*llvmModule, entry))
      return e;
  // The signature the manifest must match (bnb-run checks it after loading).
  Constant *signature = ConstantDataArray::getString(
      llvmModule->getContext(), entrySignature(entries), /*AddNull=*/true);
  new GlobalVariable(*llvmModule, signature->getType(), /*isConstant=*/true,
                     GlobalValue::ExternalLinkage, signature,
                     kSignatureSymbol);
  // Only the packed entry points are the library's interface: everything
  // else (layer functions, C-interface wrappers) is internal, so that the
  // optimizer may inline or drop it and model.so exports nothing else.
  StringSet<> exported;
  for (const EntryPoint &entry : entries)
    exported.insert(entry.symbol);
  for (Function &fn : *llvmModule)
    if (!fn.isDeclaration() && !exported.contains(fn.getName()))
      fn.setLinkage(GlobalValue::InternalLinkage);
  if (Error e = mlir::makeOptimizingTransformer(optLevel, /*sizeLevel=*/0,
                                                machine.get())(
          llvmModule.get()))
    return e;

  SmallString<256> objectPath(path);
  sys::path::replace_extension(objectPath, "o");
  {
    std::error_code ec;
    raw_fd_ostream os(objectPath, ec, sys::fs::OF_None);
    if (ec)
      return createStringError(ec, "cannot write '" + objectPath +
                                       "': " + ec.message());
    legacy::PassManager pm;
    if (machine->addPassesToEmitFile(pm, os, nullptr,
                                     CodeGenFileType::ObjectFile))
      return createStringError("the host target cannot emit object files");
    pm.run(*llvmModule);
  }

  Expected<std::string> driver = findLinkerDriver();
  if (!driver)
    return driver.takeError();
  SmallString<128> logPath;
  if (std::error_code ec =
          sys::fs::createTemporaryFile("bnb-link", "log", logPath))
    return createStringError(ec, "cannot create a temporary file");
  std::string pathStr = path.str(), objectStr = objectPath.str().str();
  SmallVector<StringRef> args = {*driver,   "-shared", "-o", pathStr,
                                 objectStr, "-lm"};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(logPath),
                                          StringRef(logPath)};
  std::string execError;
  int rc = sys::ExecuteAndWait(*driver, args, std::nullopt, redirects, 0, 0,
                               &execError);
  std::string log;
  if (auto buffer = MemoryBuffer::getFile(logPath))
    log = (*buffer)->getBuffer().trim().str();
  sys::fs::remove(logPath);
  sys::fs::remove(objectPath);
  if (rc != 0)
    return createStringError("linking the shared object with " + *driver +
                             " failed: " + (log.empty() ? execError : log));
  return Error::success();
}
