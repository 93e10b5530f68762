//===- Fuse.cpp - one kernel per fusable chain of dsx launches ------------===//
//
// The rewrites live in passes/fuse/ (Fusions.h), their common legality rules in
// FusionSupport.h; this file orders them and reports what they saved. "Bytes moved" is the
// traffic a step's launches would cause if every launch read each input and wrote each
// output once: the sum over launches of their operands' sizes. It ignores caches and a
// kernel's own re-reads, which makes it a property of the plan, comparable across plans.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/fuse/Fusions.h"

#include "dialects/dsx/DsxOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"

#include <functional>

namespace ds {
#define GEN_PASS_DEF_DSFUSE
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;

namespace {

struct StepTraffic {
  int64_t launches = 0;
  int64_t bytesMoved = 0;
};

StepTraffic measure(dsx::ProgramOp program) {
  StepTraffic traffic;
  for (auto launch : program.getBody().front().getOps<dsx::LaunchOp>()) {
    ++traffic.launches;
    for (Value buffer : launch->getOperands()) {
      auto type = cast<MemRefType>(buffer.getType());
      traffic.bytesMoved += type.getNumElements() * dsx::elementSizeInBytes(type.getElementType());
    }
  }
  return traffic;
}

/// "1474 -> 848 (-42.5%)".
std::string change(int64_t before, int64_t after) {
  double percent = before == 0 ? 0.0 : 100.0 * double(after - before) / double(before);
  std::string text;
  llvm::raw_string_ostream os(text);
  os << before << " -> " << after << " (" << llvm::format("%+.1f", percent) << "%)";
  return text;
}

struct FusePass : ds::impl::DsFuseBase<FusePass> {
  using DsFuseBase::DsFuseBase;

  void runOnOperation() override {
    if (int64_t groupBytes = optimizerGroupBytes; groupBytes < 0) {
      getOperation().emitError("ds-fuse: optimizer-group-bytes must not be negative, got ")
          << groupBytes;
      return signalPassFailure();
    }
    for (auto program : getOperation().getOps<dsx::ProgramOp>())
      if (failed(fuseProgram(program)))
        return signalPassFailure();
  }

  LogicalResult fuseProgram(dsx::ProgramOp program) {
    if (program.isPlanned())
      return program.emitOpError("is already memory-planned; ds-fuse runs before "
                                 "ds-plan-memory, whose offsets its rewrites would invalidate");
    int64_t groupBytes = optimizerGroupBytes;
    const std::pair<const char *, std::function<void()>> kinds[] = {
        {"views", [&] { fuse::fuseReshapesIntoViews(program); }},
        {"concat", [&] { fuse::fuseSliceGradSums(program); }},
        {"rope_partial", [&] { fuse::fusePartialRope(program); }},
        {"mla_rope_key", [&] { fuse::fuseMlaRopeKey(program); }},
        {"norm", [&] { fuse::fuseNormResiduals(program); }},
        {"fp8_round_trip", [&] { fuse::fuseFp8RoundTrips(program); }},
        {"optimizer", [&] { fuse::fuseOptimizers(program, groupBytes); }},
    };
    StepTraffic before = measure(program);
    std::string removedByKind;
    int64_t launches = before.launches;
    for (const auto &[name, run] : kinds) {
      run();
      int64_t now = measure(program).launches;
      removedByKind += (removedByKind.empty() ? "" : ", ") + std::string(name) + " " +
                       std::to_string(launches - now);
      launches = now;
    }
    // A view whose readers were all fused away (a reshape of a reshape, a member's view
    // of an input) names bytes nobody reads.
    for (auto view : llvm::make_early_inc_range(program.getBody().front().getOps<dsx::ViewOp>()))
      if (view->use_empty())
        view.erase();
    if (report) {
      StepTraffic after = measure(program);
      program.emitRemark("ds-fuse @")
          << program.getSymName() << ": launches per step "
          << change(before.launches, after.launches) << "; bytes moved per step "
          << change(before.bytesMoved, after.bytesMoved)
          << "; launches removed by kind: " << removedByKind;
    }
    return success();
  }
};

} // namespace
