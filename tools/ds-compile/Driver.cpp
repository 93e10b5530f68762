//===- Driver.cpp - ds-compile's stages, as a library ---------------------===//
#include "tools/ds-compile/Driver.h"

#include "dialects/ds/DsDialect.h"
#include "dialects/ds/DsInterfaces.h"
#include "dialects/dsx/DsxDialect.h"
#include "models/ModelImport.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

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
  return importModelSpec(context, options.specPath, options.build);
}

llvm::Error ds::reportStage(ModuleOp module, const CompileOptions &options) {
  if (!options.printReport && options.reportJsonPath.empty())
    return llvm::Error::success();
  DsReportOptions reportOptions;
  reportOptions.printText = options.printReport;
  reportOptions.jsonFile = options.reportJsonPath;
  PassManager pm(module->getContext());
  pm.addPass(createDsReport(reportOptions));
  // The pass reports its failures as diagnostics; collect them into the error.
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module->getContext(), [&](Diagnostic &diag) {
    diagnostics += (diagnostics.empty() ? "" : "\n") + diag.str();
    return success();
  });
  if (failed(pm.run(module)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   diagnostics.empty() ? "the report failed" : diagnostics);
  return llvm::Error::success();
}

llvm::Error ds::planStage(ModuleOp module, const CompileOptions &options) {
  if (options.planPath.empty())
    return llvm::Error::success();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(module->getContext(), [&](Diagnostic &diag) {
    diagnostics += (diagnostics.empty() ? "" : "\n") + diag.str();
    return success();
  });
  if (failed(compileToPlan(module, TrainPipelineOptions(), options.planPath)))
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
  if (options.printForward) {
    (*module)->print(out);
    out << "\n";
  }
  if (llvm::Error error = reportStage(**module, options))
    return error;
  return planStage(**module, options);
}
