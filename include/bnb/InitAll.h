//===- InitAll.h - register everything bnb tools need -------------*- C++ -*-===//
//
// One place that registers the bnb dialect, its passes and pipelines, and the
// upstream dialects, extensions and passes the pipelines use. bnb-opt,
// bnb-compile and the unit tests share it.
//
//===----------------------------------------------------------------------===//

#ifndef BNB_INITALL_H
#define BNB_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace bnb {

/// Adds the bnb dialect and every upstream dialect and dialect extension the
/// bnb pipelines produce or consume to `registry`.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers the bnb passes and pipelines and the upstream passes, so that
/// they are available to textual pass pipelines.
void registerAllPasses();

/// The project version string, e.g. "0.1.0".
const char *getVersion();

} // namespace bnb

#endif // BNB_INITALL_H
