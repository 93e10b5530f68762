//===- Driver.cpp - ds-compile's stages, as a library ---------------------===//
#include "tools/ds-compile/Driver.h"

#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsInterfaces.h"
#include "dialects/dsx/DsxDialect.h"
#include "models/ModelImport.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;

void ds::registerCompileDialects(DialectRegistry &registry) {
  registry.insert<DsDialect, dsx::DsxDialect, func::FuncDialect, arith::ArithDialect>();
  registerDsInterfaceModels(registry);
}

llvm::Expected<OwningOpRef<ModuleOp>> ds::importStage(MLIRContext &context,
                                                      const CompileOptions &options) {
  BuildOptions build = options.build;
  build.emitLogits = build.emitLogits || options.mode != PlanMode::Train;
  return importModelSpec(context, options.specPath, build);
}

namespace {

/// Runs `pm` on `module`, turning the diagnostics its passes emit into the error.
llvm::Error runCollectingDiagnostics(PassManager &pm, ModuleOp module, llvm::StringRef what) {
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module->getContext(), [&](Diagnostic &diag) {
    diagnostics += (diagnostics.empty() ? "" : "\n") + diag.str();
    return success();
  });
  if (failed(pm.run(module)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   diagnostics.empty() ? (what + " failed").str() : diagnostics);
  return llvm::Error::success();
}

} // namespace

llvm::Error ds::placementStage(ModuleOp module, const CompileOptions &options) {
  if (options.expertParallel <= 1 && options.expertStatsPath.empty() &&
      options.placementJsonPath.empty())
    return llvm::Error::success();
  DsExpertPlacementOptions placement;
  placement.ep = options.expertParallel;
  placement.nodes = options.nodes;
  placement.redundantExperts = options.redundantExperts;
  placement.expertStats = options.expertStatsPath;
  placement.placementJson = options.placementJsonPath;
  placement.report = true;
  PassManager pm(module->getContext());
  pm.addPass(createDsExpertPlacement(placement));
  return runCollectingDiagnostics(pm, module, "expert placement");
}

llvm::Error ds::reportStage(ModuleOp module, const CompileOptions &options) {
  if (!options.printReport && options.reportJsonPath.empty())
    return llvm::Error::success();
  DsReportOptions reportOptions;
  reportOptions.printText = options.printReport;
  reportOptions.jsonFile = options.reportJsonPath;
  PassManager pm(module->getContext());
  pm.addPass(createDsReport(reportOptions));
  return runCollectingDiagnostics(pm, module, "the report");
}

llvm::Error ds::planStage(ModuleOp module, const CompileOptions &options,
                          llvm::raw_ostream &out) {
  if (options.planPath.empty())
    return llvm::Error::success();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module->getContext(), [&](Diagnostic &diag) {
    // Remarks are the reports asked for (ds-fuse's summary); anything else explains a
    // failure.
    if (diag.getSeverity() == DiagnosticSeverity::Remark)
      out << diag.str() << "\n";
    else
      diagnostics += (diagnostics.empty() ? "" : "\n") + diag.str();
    return success();
  });
  TrainPipelineOptions pipeline;
  pipeline.precision = options.precision;
  pipeline.biasUpdateGamma = options.biasUpdateGamma;
  pipeline.momentDtype = options.momentDtype;
  pipeline.fuse = options.fuse;
  pipeline.fuseReport = options.printReport;
  if (failed(compilePlan(module, options.mode, pipeline, options.planPath)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   diagnostics.empty() ? "compiling the plan failed" : diagnostics);
  return llvm::Error::success();
}

llvm::Error ds::runCompile(const CompileOptions &options, llvm::raw_ostream &out) {
  DialectRegistry registry;
  registerCompileDialects(registry);
  MLIRContext context(registry);
  llvm::Expected<OwningOpRef<ModuleOp>> module = importStage(context, options);
  if (!module)
    return module.takeError();
  if (llvm::Error error = placementStage(**module, options))
    return error;
  if (options.printForward) {
    (*module)->print(out);
    out << "\n";
  }
  if (llvm::Error error = reportStage(**module, options))
    return error;
  return planStage(**module, options, out);
}
