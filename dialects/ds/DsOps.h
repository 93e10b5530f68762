//===- DsOps.h - ops of the ds graph dialect ------------------------------===//
#ifndef DS_DIALECTS_DS_DSOPS_H
#define DS_DIALECTS_DS_DSOPS_H

#include "dialects/ds/DsDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/ds/DsOps.h.inc"

#endif
