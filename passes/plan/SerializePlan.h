//===- SerializePlan.h - a planned dsx.program as the runtime's plan ------===//
//
// The compiler writes plans with the runtime's own Plan struct and PlanWriter (library
// DsPlan), so the .dsplan format has one definition, and a plan is checked by the same
// verifier before it is written as when it is loaded.
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_PLAN_SERIALIZEPLAN_H
#define DS_PASSES_PLAN_SERIALIZEPLAN_H

#include "runtime/plan/Plan.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

namespace ds {

/// The plan of the one planned dsx.program in `module` (ds-lower-to-exec, then
/// ds-plan-memory), with the model metadata of the module attributes ds.model_type,
/// ds.spec, ds.batch, ds.seq, ds.vocab_size, ds.mtp_depth and ds.initializer_range
/// (docs/ir-conventions.md). Problems are reported as errors at the offending op.
mlir::FailureOr<rt::Plan> buildRuntimePlan(mlir::ModuleOp module);

/// buildRuntimePlan, then the runtime's writer: verified, and written to `path` through a
/// temporary file renamed into place.
mlir::LogicalResult serializePlan(mlir::ModuleOp module, llvm::StringRef path);

} // namespace ds

#endif
