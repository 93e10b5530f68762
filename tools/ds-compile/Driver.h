//===- Driver.h - ds-compile's stages, as a library -----------------------===//
//
// ds-compile turns a model spec into artifacts: the report now, a plan later. Each stage
// is a function here so that the tool's main only parses flags:
//   importStage:  spec file -> verified @forward module (frontend + models)
//   placementStage: ds-expert-placement over it (the map on each ds.moe, JSON file)
//   reportStage:  the ds-report pass over it (table on stdout, JSON file)
//   planStage:    the pipeline of the plan mode over it and the plan file
//                 (passes/Pipelines.h, passes/EvalPipelines.h), with ds-fuse's summary
//                 when the report is asked for
//
//===----------------------------------------------------------------------===//
#ifndef DS_TOOLS_DS_COMPILE_DRIVER_H
#define DS_TOOLS_DS_COMPILE_DRIVER_H

#include "models/BuildOptions.h"
#include "passes/EvalPipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace ds {

struct CompileOptions {
  std::string specPath;
  BuildOptions build;
  /// Print the ds-report table on stdout.
  bool printReport = false;
  /// Write the ds-report JSON here (empty: do not).
  std::string reportJsonPath;
  /// Print the imported @forward module.
  bool printForward = false;
  /// Write the plan (.dsplan) here (empty: do not compile one).
  std::string planPath;
  /// What the plan runs: the training step, @forward or @gradients. Eval and gradients
  /// build @forward with its logits (BuildOptions::emitLogits).
  PlanMode mode = PlanMode::Train;
  /// "fp32", "bf16" (ds-gemm-precision) or "fp8" (ds-fp8-cast's V3 recipe on every
  /// linear GEMM of the plan).
  std::string precision = "fp32";
  /// Element type of the AdamW moments: "f32" or "bf16" (V3's recipe).
  std::string momentDtype = "f32";
  /// Fuse launch chains into single kernels (ds-fuse); false keeps one launch per op.
  bool fuse = true;
  /// Speed of the auxiliary-loss-free router-bias update (V3 report §2.1.2).
  double biasUpdateGamma = 0.001;
  /// Expert placement (ds-expert-placement); runs when expertParallel > 1 or stats are
  /// given.
  int64_t expertParallel = 1;
  int64_t nodes = 1;
  int64_t redundantExperts = 0;
  std::string expertStatsPath;
  std::string placementJsonPath;
};

/// The dialects (and their interface models) every ds-compile context needs.
void registerCompileDialects(mlir::DialectRegistry &registry);

/// Parses, validates and builds the spec (with logits for the eval and gradients modes),
/// and verifies the module.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> importStage(mlir::MLIRContext &context,
                                                              const CompileOptions &options);

/// Runs ds-expert-placement on `module` as `options` asks (nothing for a single GPU
/// without stats), printing each layer's GPU load before and after on stdout.
llvm::Error placementStage(mlir::ModuleOp module, const CompileOptions &options);

/// Runs the ds-report pass on `module` as `options` asks (nothing when neither the table
/// nor the JSON is requested).
llvm::Error reportStage(mlir::ModuleOp module, const CompileOptions &options);

/// Compiles `module` with the pipeline of options.mode and writes the plan to
/// options.planPath (nothing when it is empty). The module is rewritten in place. With
/// options.printReport, ds-fuse's summary (launches and bytes moved per step, before and
/// after) goes to `out`.
llvm::Error planStage(mlir::ModuleOp module, const CompileOptions &options,
                      llvm::raw_ostream &out);

/// The whole of ds-compile: import, placement, optional module print on `out`, report,
/// plan.
llvm::Error runCompile(const CompileOptions &options, llvm::raw_ostream &out);

} // namespace ds

#endif
