//===- EvalPipelines.h - plans that evaluate or differentiate, not train --===//
//
// Besides the training step (Pipelines.h), a model compiles to two more plans, both from
// the same @forward (built with BuildOptions::emitLogits) through the same stages:
//   eval:      ds-decompose, canonicalize, cse, ds-lower-to-exec{entry=forward},
//              ds-fuse, ds-plan-memory: one forward pass; outputs loss, its parts,
//              expert counts and "logits".
//   gradients: ds-decompose, ds-autodiff{gradients-only}, canonicalize, cse,
//              ds-lower-to-exec{entry=gradients}, ds-fuse, ds-plan-memory: forward and backward,
//              outputs as eval plus "grad.<param>" per parameter; no optimizer state, no
//              lr/step inputs, no updates (docs/ir-conventions.md).
//
//===----------------------------------------------------------------------===//
#ifndef DS_PASSES_EVALPIPELINES_H
#define DS_PASSES_EVALPIPELINES_H

#include "passes/Pipelines.h"

#include "llvm/ADT/StringRef.h"

#include <optional>

namespace ds {

/// Which function of the model a plan runs.
enum class PlanMode { Train, Eval, Gradients };

/// "train", "eval", "gradients"; nullopt for anything else.
std::optional<PlanMode> parsePlanMode(llvm::StringRef name);
llvm::StringRef planModeName(PlanMode mode);

/// The stages every plan ends with, after differentiation: canonicalize and cse (the
/// backward graph repeats forward values and leaves ops no gradient needs), ds-fp8-cast
/// when options.precision is fp8, then ds-lower-to-exec of `entry`, ds-fuse when
/// options.fuse, and ds-plan-memory with `options`' layout settings.
void addPlanLoweringStages(mlir::OpPassManager &pm, llvm::StringRef entry,
                           const TrainPipelineOptions &options);

/// The pipeline of `mode`: buildTrainPipeline for Train, the stages above otherwise
/// (only the lowering and memory options of `options` apply to Eval and Gradients).
void buildPlanPipeline(mlir::OpPassManager &pm, PlanMode mode,
                       const TrainPipelineOptions &options);

/// Runs the pipeline of `mode` on `module` and writes the plan to `path`. Errors are
/// reported through the module's context.
mlir::LogicalResult compilePlan(mlir::ModuleOp module, PlanMode mode,
                                const TrainPipelineOptions &options, llvm::StringRef path);

} // namespace ds

#endif
