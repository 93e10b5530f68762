//===- Pipelines.cpp - named pass pipelines -------------------------------===//
#include "passes/Pipelines.h"
#include "passes/EvalPipelines.h"
#include "passes/Passes.h"
#include "passes/plan/SerializePlan.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void ds::buildTrainPipeline(OpPassManager &pm, const TrainPipelineOptions &options) {
  pm.addPass(createDsDecompose());

  DsAutodiffOptions autodiff;
  autodiff.beta1 = options.beta1;
  autodiff.beta2 = options.beta2;
  autodiff.epsilon = options.epsilon;
  autodiff.weightDecay = options.weightDecay;
  autodiff.maxGradNorm = options.maxGradNorm;
  autodiff.biasUpdateGamma = options.biasUpdateGamma;
  autodiff.momentDtype = options.momentDtype;
  // A plan runs @train_step only; @forward would just be carried through every pass.
  autodiff.keepForward = false;
  pm.addPass(createDsAutodiff(autodiff));
  addPlanLoweringStages(pm, "train_step", options);
}

void ds::registerDsPipelines() {
  PassPipelineRegistration<TrainPipelineOptions>(
      "ds-train-pipeline",
      "a model's @forward to a memory-planned dsx.program @train_step (decompose, autodiff, "
      "canonicalize, cse, fp8-cast when precision=fp8, lower-to-exec, fuse unless "
      "fuse=false, plan-memory)",
      buildTrainPipeline);
}

LogicalResult ds::compileToPlan(ModuleOp module, const TrainPipelineOptions &options,
                                llvm::StringRef path) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  buildTrainPipeline(pm, options);
  if (failed(pm.run(module)))
    return failure();
  return serializePlan(module, path);
}
