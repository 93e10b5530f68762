//===- SpecOptMain.h - ds-opt's main, with model specs as inputs ----------===//
#ifndef DS_MODELS_SPECOPTMAIN_H
#define DS_MODELS_SPECOPTMAIN_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/LogicalResult.h"

#include "llvm/ADT/StringRef.h"

namespace ds {

/// mlir-opt's main (MlirOptMain), except that an input file ending in `.json` is a model
/// spec: it is imported (parsed, validated, built at `--batch` x `--seq`, verified) and
/// the passes named on the command line run on the imported module.
mlir::LogicalResult specAwareOptMain(int argc, char **argv, llvm::StringRef toolName,
                                     mlir::DialectRegistry &registry);

} // namespace ds

#endif
