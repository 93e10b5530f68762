//===- Pipelines.h - named pass pipelines and spec-to-plan compilation ----===//
#ifndef DS_PASSES_PIPELINES_H
#define DS_PASSES_PIPELINES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "llvm/ADT/StringRef.h"

namespace ds {

/// Options of `ds-train-pipeline`, grouped by the stage that reads them; a later stage
/// (fp8-cast, expert placement, fusion) adds its group here and its passes in
/// buildTrainPipeline, between differentiation and lowering.
struct TrainPipelineOptions : mlir::PassPipelineOptions<TrainPipelineOptions> {
  // Differentiation and the optimizer step (ds-autodiff).
  Option<double> beta1{*this, "beta1", llvm::cl::desc("AdamW first-moment decay"),
                       llvm::cl::init(0.9)};
  Option<double> beta2{*this, "beta2", llvm::cl::desc("AdamW second-moment decay"),
                       llvm::cl::init(0.95)};
  Option<double> epsilon{*this, "epsilon", llvm::cl::desc("AdamW denominator epsilon"),
                         llvm::cl::init(1e-8)};
  Option<double> weightDecay{*this, "weight-decay",
                             llvm::cl::desc("AdamW decoupled weight decay"), llvm::cl::init(0.1)};
  Option<double> maxGradNorm{*this, "max-grad-norm",
                             llvm::cl::desc("global gradient-norm clipping (<= 0: none)"),
                             llvm::cl::init(1.0)};
  Option<double> biasUpdateGamma{*this, "bias-update-gamma",
                                 llvm::cl::desc("router bias update speed"),
                                 llvm::cl::init(0.001)};
  Option<std::string> momentDtype{*this, "moment-dtype",
                                  llvm::cl::desc("AdamW moments: f32, or bf16 (V3's recipe)"),
                                  llvm::cl::init("f32")};

  // Precision (ds-fp8-cast), applied after differentiation to every GEMM of the step.
  Option<std::string> precision{*this, "precision",
                                llvm::cl::desc("fp32 (as built), bf16 (every GEMM on BF16 tensor "
                                               "cores) or fp8 (the V3 recipe)"),
                                llvm::cl::init("fp32")};
  Option<std::string> fp8Granularity{*this, "fp8-granularity",
                                     llvm::cl::desc("block, per-row or per-tensor scales"),
                                     llvm::cl::init("block")};
  Option<std::string> fp8KeepHighPrecision{
      *this, "fp8-keep-high-precision",
      llvm::cl::desc("comma list of GEMM kinds or ops to leave unquantized"),
      llvm::cl::init("")};
  Option<int64_t> fp8PromoteInterval{
      *this, "fp8-promote-interval",
      llvm::cl::desc("K elements between FP32 promotions of partial sums"), llvm::cl::init(128)};

  // Fusion of the lowered launches (ds-fuse), between lowering and memory planning.
  Option<bool> fuse{*this, "fuse",
                    llvm::cl::desc("fuse launch chains into single kernels (ds-fuse)"),
                    llvm::cl::init(true)};
  Option<int64_t> optimizerGroupBytes{
      *this, "optimizer-group-bytes",
      llvm::cl::desc("parameter bytes per fused adamw launch (0: no limit)"),
      llvm::cl::init(int64_t(1) << 28)};
  Option<bool> fuseReport{*this, "fuse-report",
                          llvm::cl::desc("emit a remark with launches and bytes moved per "
                                         "step before and after fusion"),
                          llvm::cl::init(false)};

  // Lowering and memory planning (ds-lower-to-exec, ds-plan-memory).
  Option<int64_t> alignment{*this, "alignment",
                            llvm::cl::desc("byte alignment of every buffer offset"),
                            llvm::cl::init(64)};
  Option<bool> memoryReport{*this, "memory-report",
                            llvm::cl::desc("emit a remark with the arena size and reuse"),
                            llvm::cl::init(false)};
};

/// @forward (composites allowed) to a planned dsx.program @train_step: ds-decompose,
/// ds-autodiff, then the plan's lowering stages (EvalPipelines.h: canonicalize, cse,
/// ds-fp8-cast when precision=fp8, ds-gemm-precision when
/// precision=bf16, ds-lower-to-exec, ds-plan-memory).
void buildTrainPipeline(mlir::OpPassManager &pm, const TrainPipelineOptions &options);

/// Registers `ds-train-pipeline` with the global pipeline registry.
void registerDsPipelines();

/// Runs the train pipeline on `module` (a model's @forward with its module attributes)
/// and writes the plan to `path`. Errors are reported through the module's context.
mlir::LogicalResult compileToPlan(mlir::ModuleOp module, const TrainPipelineOptions &options,
                                  llvm::StringRef path);

} // namespace ds

#endif
