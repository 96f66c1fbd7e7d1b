//===- TypeSizes.h - refuse graphs with tensors beyond int64_t ---*- C++ -*-===//
//
// A graph may declare a tensor type no memory could hold, such as
// tensor<4294967296x4294967296xf32>. Its element count overflows
// ShapedType::getNumElements (signed overflow) in the passes that size
// buffers, memory reports and entry-point signatures, so bnb-compile refuses
// the graph first, naming the type and where it appears.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TARGET_TYPESIZES_H
#define BNB_TARGET_TYPESIZES_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace bnb {

/// Fails, naming the first such type and its location, when a statically
/// shaped tensor or memref type used in `module` (by a value, a block
/// argument or an attribute such as a global's type) has more bytes than
/// int64_t holds.
llvm::Error checkTypeSizes(mlir::ModuleOp module);

} // namespace bnb

#endif // BNB_TARGET_TYPESIZES_H
