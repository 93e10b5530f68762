//===- ModelImport.h - a spec file to a verified forward module -----------===//
#ifndef DS_MODELS_MODELIMPORT_H
#define DS_MODELS_MODELIMPORT_H

#include "frontend/ModelSpec.h"
#include "models/BuildOptions.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/Support/Error.h"

namespace ds {

/// Builds the forward module of `spec` with the builder of its architecture and
/// verifies it; a verifier failure comes back as an error carrying the diagnostics.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildModel(mlir::MLIRContext &context, const ModelSpec &spec, const BuildOptions &options);

/// Loads, validates and builds the spec at `path` (see frontend/SpecParser.h).
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importModelSpec(mlir::MLIRContext &context, llvm::StringRef path, const BuildOptions &options);

} // namespace ds

#endif
