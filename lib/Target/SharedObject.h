//===- SharedObject.h - lowered module -> model.so ----------------*- C++ -*-===//

#ifndef BNB_LIB_TARGET_SHAREDOBJECT_H
#define BNB_LIB_TARGET_SHAREDOBJECT_H

#include "bnb/Target/CpuTarget.h"
#include "bnb/Target/Manifest.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace bnb {

/// Translates a module lowered to the LLVM dialect into LLVM IR, adds a
/// packed wrapper `entry.symbol(void **args)` per entry point around its
/// `_mlir_ciface_` function, optimizes it at `optLevel` for `cpu` and writes
/// a shared object to `path`, linked with the system's C compiler driver.
/// Fills `cpu.required` with the instruction-set features the code may use.
llvm::Error emitSharedObject(mlir::ModuleOp module,
                             llvm::ArrayRef<EntryPoint> entries,
                             unsigned optLevel, llvm::StringRef path,
                             CpuTarget &cpu);

} // namespace bnb

#endif // BNB_LIB_TARGET_SHAREDOBJECT_H
