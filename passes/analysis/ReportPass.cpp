//===- ReportPass.cpp - the ds-report analysis pass -----------------------===//
//
// Prints (and optionally writes as JSON) the report of Report.h for @forward. The module
// is left unchanged.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/analysis/Report.h"

#include "mlir/IR/BuiltinOps.h"

namespace ds {
#define GEN_PASS_DEF_DSREPORT
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;

namespace {

struct ReportPass : ds::impl::DsReportBase<ReportPass> {
  using DsReportBase::DsReportBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::Expected<ds::ModelReport> report = ds::analyzeModel(module);
    if (!report) {
      module.emitError("ds-report: ") << llvm::toString(report.takeError());
      return signalPassFailure();
    }
    if (printText)
      ds::printReportText(*report, llvm::outs());
    if (!jsonFile.empty())
      if (llvm::Error error = ds::writeReportJson(*report, jsonFile)) {
        module.emitError("ds-report: ") << llvm::toString(std::move(error));
        return signalPassFailure();
      }
    markAllAnalysesPreserved();
  }
};

} // namespace
