//===- Npy.h - minimal NumPy .npy reading and writing -------------*- C++ -*-===//
//
// Little-endian, C-order .npy files (format 1.0) with the dtypes the GPU
// simulator exchanges with its tests.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_TEST_TOOLS_BNBGPUSIM_NPY_H
#define BNB_TEST_TOOLS_BNBGPUSIM_NPY_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace bnb::sim {

/// A C-order array: its numpy dtype string (e.g. "<f4"), shape and bytes.
struct NpyArray {
  std::string dtype;
  llvm::SmallVector<int64_t> shape;
  std::vector<uint8_t> data;
};

/// Reads `path`.
llvm::Expected<NpyArray> readNpy(llvm::StringRef path);

/// Writes `array` to `path`.
llvm::Error writeNpy(llvm::StringRef path, const NpyArray &array);

} // namespace bnb::sim

#endif // BNB_TEST_TOOLS_BNBGPUSIM_NPY_H
