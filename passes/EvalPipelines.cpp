//===- EvalPipelines.cpp - plans that evaluate or differentiate -----------===//
#include "passes/EvalPipelines.h"
#include "passes/Passes.h"
#include "passes/plan/SerializePlan.h"

#include "mlir/Transforms/Passes.h"

using namespace mlir;

std::optional<ds::PlanMode> ds::parsePlanMode(llvm::StringRef name) {
  for (PlanMode mode : {PlanMode::Train, PlanMode::Eval, PlanMode::Gradients})
    if (name == planModeName(mode))
      return mode;
  return std::nullopt;
}

llvm::StringRef ds::planModeName(PlanMode mode) {
  switch (mode) {
  case PlanMode::Train:
    return "train";
  case PlanMode::Eval:
    return "eval";
  case PlanMode::Gradients:
    return "gradients";
  }
  llvm_unreachable("unknown plan mode");
}

void ds::addPlanLoweringStages(OpPassManager &pm, llvm::StringRef entry,
                               const TrainPipelineOptions &options) {
  // The backward graph repeats forward values (a slice of the tokens, a zero seed) and
  // leaves ops whose results no gradient needs; cleaning up before lowering keeps them
  // out of the arena and the launch list.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (options.precision == "fp8") {
    DsFp8CastOptions fp8;
    fp8.granularity = options.fp8Granularity;
    llvm::SmallVector<llvm::StringRef> kept;
    llvm::StringRef(options.fp8KeepHighPrecision).split(kept, ',', -1, /*KeepEmpty=*/false);
    for (llvm::StringRef kind : kept)
      fp8.keepHighPrecision.push_back(kind.trim().str());
    fp8.promoteInterval = options.fp8PromoteInterval;
    pm.addPass(createDsFp8Cast(fp8));
  }
  if (options.precision == "bf16")
    pm.addPass(createDsGemmPrecision());
  // After CSE, which would merge the recomputed copies again.
  pm.addPass(createDsRecompute());
  DsLowerToExecOptions lower;
  lower.entry = entry.str();
  pm.addPass(createDsLowerToExec(lower));
  if (options.fuse) {
    DsFuseOptions fuse;
    fuse.optimizerGroupBytes = options.optimizerGroupBytes;
    fuse.report = options.fuseReport;
    pm.addPass(createDsFuse(fuse));
  }
  DsPlanMemoryOptions planMemory;
  planMemory.alignment = options.alignment;
  planMemory.report = options.memoryReport;
  pm.addPass(createDsPlanMemory(planMemory));
}

void ds::buildPlanPipeline(OpPassManager &pm, PlanMode mode,
                           const TrainPipelineOptions &options) {
  if (mode == PlanMode::Train) {
    buildTrainPipeline(pm, options);
    return;
  }
  pm.addPass(createDsDecompose());
  if (mode == PlanMode::Eval) {
    addPlanLoweringStages(pm, "forward", options);
    return;
  }
  DsAutodiffOptions autodiff;
  autodiff.gradientsOnly = true;
  // The plan runs @gradients only; @forward would just be carried through every pass.
  autodiff.keepForward = false;
  pm.addPass(createDsAutodiff(autodiff));
  addPlanLoweringStages(pm, "gradients", options);
}

LogicalResult ds::compilePlan(ModuleOp module, PlanMode mode,
                              const TrainPipelineOptions &options, llvm::StringRef path) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  buildPlanPipeline(pm, mode, options);
  if (failed(pm.run(module)))
    return failure();
  return serializePlan(module, path);
}
