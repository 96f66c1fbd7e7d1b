//===- ConfigRules.cpp - the value rules of BitsAndBytesConfig ------------===//

#include "bnb/Quant/ConfigRules.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

std::string bnb::quant::quantStorageMessage() {
  return "bnb_4bit_quant_storage must be one of " +
         llvm::join(llvm::ArrayRef<llvm::StringLiteral>(kQuantStorageNames), ", ");
}

bool bnb::quant::isOneOf(llvm::StringRef name,
                         llvm::ArrayRef<llvm::StringLiteral> names) {
  return llvm::is_contained(names, name);
}
