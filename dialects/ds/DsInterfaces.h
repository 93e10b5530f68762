//===- DsInterfaces.h - op interfaces of the ds dialect -------------------===//
#ifndef DS_DIALECTS_DS_DSINTERFACES_H
#define DS_DIALECTS_DS_DSINTERFACES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OpDefinition.h"

#include "dialects/ds/DsInterfaces.h.inc"

namespace ds {
/// Attaches the interface implementations kept outside the op definitions (the VJPs of
/// DsVjp.cpp). Every tool that builds a context for ds calls this.
void registerDsInterfaceModels(mlir::DialectRegistry &registry);
} // namespace ds

#endif
