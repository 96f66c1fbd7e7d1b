//===- SharedObject.h - lowered module -> model.so ----------------*- C++ -*-===//

#ifndef BNB_LIB_TARGET_SHAREDOBJECT_H
#define BNB_LIB_TARGET_SHAREDOBJECT_H

#include "bnb/Target/Manifest.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace bnb {

/// Translates a module lowered to the LLVM dialect into LLVM IR, adds a
/// packed wrapper `entry.symbol(void **args)` per entry point around its
/// `_mlir_ciface_` function, optimizes it at `optLevel` for a generic CPU
/// of the host architecture (artifacts move between machines) and writes a
/// shared object to `path`, linked with the system's C compiler driver.
llvm::Error emitSharedObject(mlir::ModuleOp module,
                             llvm::ArrayRef<EntryPoint> entries,
                             unsigned optLevel, llvm::StringRef path);

} // namespace bnb

#endif // BNB_LIB_TARGET_SHAREDOBJECT_H
