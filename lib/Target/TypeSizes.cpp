//===- TypeSizes.cpp - refuse graphs with tensors beyond int64_t ----------===//

#include "bnb/Target/TypeSizes.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Location.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace {
/// True when `type` is a static shaped type whose bytes overflow int64_t.
bool tooLarge(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped || !shaped.hasRank() || !shaped.hasStaticShape() ||
      !shaped.getElementType().isIntOrIndexOrFloat())
    return false;
  std::optional<int64_t> bytes = int64_t(llvm::divideCeil(
      shaped.getElementType().getIntOrFloatBitWidth(), 8));
  if (isa<IndexType>(shaped.getElementType()))
    bytes = 8;
  for (int64_t dim : shaped.getShape()) {
    bytes = llvm::checkedMul(*bytes, dim);
    if (!bytes)
      return true;
  }
  return false;
}

std::string where(Location loc) {
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return llvm::formatv("{0}:{1}:{2}: ", file.getFilename().getValue(),
                         file.getLine(), file.getColumn())
        .str();
  return "";
}
} // namespace

llvm::Error bnb::checkTypeSizes(ModuleOp module) {
  Type found;
  Location at = module.getLoc();
  auto check = [&](Type type, Location loc) {
    if (found)
      return;
    // Nested types too (a function type, a tuple).
    type.walk([&](Type inner) {
      if (!found && tooLarge(inner)) {
        found = inner;
        at = loc;
      }
    });
  };
  module.walk([&](Operation *op) {
    for (Type type : op->getResultTypes())
      check(type, op->getLoc());
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (BlockArgument arg : block.getArguments())
          check(arg.getType(), arg.getLoc());
    op->getAttrDictionary().walk([&](Type type) { check(type, op->getLoc()); });
  });
  if (!found)
    return llvm::Error::success();
  std::string text;
  llvm::raw_string_ostream os(text);
  os << found;
  return llvm::createStringError(where(at) + "type " + text +
                                 " has more bytes than int64_t holds");
}
