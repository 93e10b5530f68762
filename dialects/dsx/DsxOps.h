//===- DsxOps.h - ops of the dsx execution dialect ------------------------===//
#ifndef DS_DIALECTS_DSX_DSXOPS_H
#define DS_DIALECTS_DSX_DSXOPS_H

#include "dialects/dsx/DsxDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/dsx/DsxOps.h.inc"

namespace ds::dsx {

/// Bytes of one element of `type` as the runtime stores it (f32, bf16, f8E4M3FN, i32).
int64_t elementSizeInBytes(mlir::Type type);

/// True for the roles whose buffers keep their value from step to step (the persistent
/// region of the plan); outputs are named but live in the arena with the temporaries.
inline bool isPersistentRole(BufferRole role) {
  return role == BufferRole::Input || role == BufferRole::Param ||
         role == BufferRole::Buffer || role == BufferRole::State;
}

/// The dsx.buffer whose bytes `buffer` (a dsx.buffer or dsx.view result) names.
BufferOp underlyingBuffer(mlir::Value buffer);

} // namespace ds::dsx

#endif
