//===- Pipelines.cpp - named pass pipelines -------------------------------===//
#include "passes/Pipelines.h"
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
  // A plan runs @train_step only; @forward would just be carried through every pass.
  autodiff.keepForward = false;
  pm.addPass(createDsAutodiff(autodiff));
  // The backward graph repeats forward values (a slice of the tokens, a zero seed) and
  // leaves ops whose results no gradient needs; cleaning up before lowering keeps them
  // out of the arena and the launch list.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  pm.addPass(createDsLowerToExec());
  DsPlanMemoryOptions planMemory;
  planMemory.alignment = options.alignment;
  planMemory.report = options.memoryReport;
  pm.addPass(createDsPlanMemory(planMemory));
}

void ds::registerDsPipelines() {
  PassPipelineRegistration<TrainPipelineOptions>(
      "ds-train-pipeline",
      "a model's @forward to a memory-planned dsx.program @train_step (decompose, autodiff, "
      "canonicalize, cse, lower-to-exec, plan-memory)",
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
