//===- BufferizeToOutParams.h - the artifact's bufferization -----*- C++ -*-===//
//
// Shared by the CPU and GPU pipelines: both produce entry points whose
// results are caller-provided buffers.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_LIB_PIPELINES_BUFFERIZETOOUTPARAMS_H
#define BNB_LIB_PIPELINES_BUFFERIZETOOUTPARAMS_H

namespace mlir {
class OpPassManager;
namespace bnb {

/// One-shot bufferization across function boundaries with identity layouts,
/// then results as out-parameters of every function, public ones included (a
/// statically shaped result is computed in place in the caller's buffer).
void addBufferizeToOutParams(OpPassManager &pm);

} // namespace bnb
} // namespace mlir

#endif // BNB_LIB_PIPELINES_BUFFERIZETOOUTPARAMS_H
