//===- PlanMemory.cpp - offsets for every buffer of a dsx.program ---------===//
//
// Lays a program's buffers out as the runtime's arena is laid out (runtime/plan/Plan.h):
// persistent buffers (inputs, params, buffers, state) one after another from offset 0;
// above them temporaries and outputs, sharing bytes by lifetime (passes/plan/ArenaLayout).
//
// A buffer's lifetime runs from the first launch that touches it to the last. Two
// extensions keep the runtime's reads valid: outputs stay live to the end of the step,
// because the runtime reads them after the last launch, and so do the sources of
// dsx.update, because the runtime copies them into state only after the last launch.
// A dsx.view has no bytes of its own: a launch reading it touches its source, and the
// serialized view takes the source's offset.
//
// In place: a few kernels read every element of one input before writing that element of
// an output of the same type (runtime/plan/Plan.h, inPlaceOperands); when that input's
// lifetime ends at the launch and the output's begins there, the two share bytes (the
// output takes the input's offset). cross_entropy_grad is the case that matters: its
// logits gradient takes the logits' bytes (1 GiB per head at v3-mini's batch), which
// lowers the step's peak.
//
// With report=true, two remarks: the plan's totals, and its peak (the launch at which the
// most temporary and output bytes are live, and the largest of those buffers, each named
// by its type and the launch that first touches it): what to shrink first.
//
//===----------------------------------------------------------------------===//
#include "dialects/dsx/DsxOps.h"
#include "passes/Passes.h"
#include "passes/plan/ArenaLayout.h"
#include "runtime/plan/Plan.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

namespace ds {
#define GEN_PASS_DEF_DSPLANMEMORY
#include "passes/Passes.h.inc"
} // namespace ds

using namespace mlir;
using namespace ds;

namespace {

/// How many of the largest buffers live at the peak the report names.
constexpr size_t kPeakBuffersReported = 5;

/// The second remark of report=true: the step with the most live bytes and its largest
/// buffers (`buffers[i]` lives over `ranges[i]`).
void reportPeak(dsx::ProgramOp program, ArrayRef<dsx::BufferOp> buffers,
                const std::vector<plan::LiveRange> &ranges,
                ArrayRef<dsx::LaunchOp> launches, int64_t alignment) {
  if (ranges.empty())
    return;
  // Live bytes per step by a sweep of +bytes at firstStep and -bytes after lastStep.
  int64_t steps = static_cast<int64_t>(launches.size()) + 1;
  std::vector<int64_t> delta(steps + 1, 0);
  for (const plan::LiveRange &r : ranges) {
    delta[r.firstStep] += plan::alignTo(r.bytes, alignment);
    delta[r.lastStep + 1] -= plan::alignTo(r.bytes, alignment);
  }
  int64_t live = 0, peak = -1, peakStep = 0;
  for (int64_t step = 0; step < steps; ++step) {
    live += delta[step];
    if (live > peak) {
      peak = live;
      peakStep = step;
    }
  }
  SmallVector<size_t> atPeak;
  for (size_t i = 0; i < ranges.size(); ++i)
    if (ranges[i].firstStep <= peakStep && peakStep <= ranges[i].lastStep)
      atPeak.push_back(i);
  // Largest first; equal sizes in program order.
  llvm::sort(atPeak, [&](size_t a, size_t b) {
    return ranges[a].bytes != ranges[b].bytes ? ranges[a].bytes > ranges[b].bytes : a < b;
  });
  auto launchName = [&](int64_t step) -> std::string {
    if (step >= static_cast<int64_t>(launches.size()))
      return "the end of the step";
    return "launch " + std::to_string(step) + " ('" +
           dsx::LaunchOp(launches[step]).getKernel().str() + "')";
  };
  InFlightDiagnostic remark = program.emitRemark("memory peak of @");
  remark << program.getSymName() << " at " << launchName(peakStep) << ": " << peak
         << " bytes live in " << atPeak.size() << " buffers; largest:";
  for (size_t k = 0; k < std::min(atPeak.size(), kPeakBuffersReported); ++k) {
    size_t i = atPeak[k];
    remark << (k ? ";" : "") << " " << ranges[i].bytes << " bytes "
           << dsx::BufferOp(buffers[i]).getResult().getType() << " from "
           << launchName(ranges[i].firstStep);
  }
}

LogicalResult planProgram(dsx::ProgramOp program, int64_t alignment, bool report) {
  Block &body = program.getBody().front();
  OpBuilder builder(program.getContext());

  // Schedule step of every launch; updates and the runtime's output reads happen at
  // `endStep`, after the last launch.
  llvm::DenseMap<Value, std::pair<int64_t, int64_t>> touched; // buffer -> first, last step
  SmallVector<dsx::LaunchOp> launches;
  int64_t step = 0;
  for (auto launch : body.getOps<dsx::LaunchOp>()) {
    launches.push_back(launch);
    for (Value operand : llvm::concat<Value>(launch.getInputs(), launch.getOutputs())) {
      Value buffer = dsx::underlyingBuffer(operand).getResult();
      auto [it, inserted] = touched.try_emplace(buffer, step, step);
      it->second.second = step;
    }
    ++step;
  }
  int64_t endStep = step;
  for (auto update : body.getOps<dsx::UpdateOp>())
    if (touched.count(update.getSource()))
      touched[update.getSource()].second = endStep;

  int64_t persistentBytes = 0;
  SmallVector<dsx::BufferOp> arenaBuffers;
  std::vector<plan::LiveRange> ranges;
  llvm::DenseMap<Value, size_t> rangeOf; // arena buffer -> its index in ranges
  for (auto buffer : body.getOps<dsx::BufferOp>()) {
    int64_t bytes = buffer.getSizeInBytes();
    if (dsx::isPersistentRole(buffer.getRole())) {
      buffer.setOffset(persistentBytes);
      persistentBytes += plan::alignTo(bytes, alignment);
      continue;
    }
    auto it = touched.find(buffer.getResult());
    if (it == touched.end())
      return buffer.emitOpError("is touched by no launch; a ")
             << dsx::stringifyBufferRole(buffer.getRole())
             << " buffer must be written by a launch of the step";
    plan::LiveRange range{bytes, it->second.first, it->second.second};
    if (buffer.getRole() == dsx::BufferRole::Output)
      range.lastStep = endStep;
    rangeOf[buffer.getResult()] = ranges.size();
    arenaBuffers.push_back(buffer);
    ranges.push_back(range);
  }

  // In-place pairs: the output's range joins the input's (owner[i] is the range whose
  // bytes range i uses; chains resolve to their first input).
  std::vector<size_t> owner(ranges.size());
  for (size_t i = 0; i < owner.size(); ++i)
    owner[i] = i;
  for (auto [step, launch] : llvm::enumerate(launches)) {
    rt::InPlaceOperands inPlace;
    if (!rt::inPlaceOperands(launch.getKernel().str(), inPlace) ||
        inPlace.input >= launch.getInputs().size() ||
        inPlace.output >= launch.getOutputs().size())
      continue;
    Value in = launch.getInputs()[inPlace.input], out = launch.getOutputs()[inPlace.output];
    auto inAt = rangeOf.find(in), outAt = rangeOf.find(out); // views are not in rangeOf
    if (inAt == rangeOf.end() || outAt == rangeOf.end() || in.getType() != out.getType() ||
        dsx::BufferOp(arenaBuffers[inAt->second]).getRole() != dsx::BufferRole::Temporary)
      continue;
    size_t source = owner[inAt->second], target = outAt->second;
    if (ranges[inAt->second].lastStep != int64_t(step) ||
        ranges[target].firstStep != int64_t(step))
      continue;
    ranges[source].lastStep = std::max(ranges[source].lastStep, ranges[target].lastStep);
    owner[target] = source;
  }
  std::vector<plan::LiveRange> owned;
  std::vector<size_t> ownedIndex(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i)
    if (owner[i] == i) {
      ownedIndex[i] = owned.size();
      owned.push_back(ranges[i]);
    }

  plan::ArenaLayout layout = plan::layoutArena(owned, alignment);
  for (size_t i = 0; i < ranges.size(); ++i)
    arenaBuffers[i].setOffset(persistentBytes + layout.offsets[ownedIndex[owner[i]]]);
  program.setPersistentBytes(persistentBytes);
  program.setArenaBytes(persistentBytes + layout.arenaBytes);

  if (report)
    program.emitRemark("memory plan of @")
        << program.getSymName() << ": " << endStep << " launches; persistent "
        << persistentBytes << " bytes; temporaries and outputs " << layout.arenaBytes
        << " bytes for " << ranges.size() << " buffers (lower bound " << layout.peakLiveBytes
        << ", without reuse " << layout.totalBytes << "); arena " << *program.getArenaBytes()
        << " bytes";
  if (report) {
    SmallVector<dsx::BufferOp> ownedBuffers;
    for (size_t i = 0; i < ranges.size(); ++i)
      if (owner[i] == i)
        ownedBuffers.push_back(arenaBuffers[i]);
    reportPeak(program, ownedBuffers, owned, launches, alignment);
  }
  return success();
}

struct PlanMemoryPass : ds::impl::DsPlanMemoryBase<PlanMemoryPass> {
  using DsPlanMemoryBase::DsPlanMemoryBase;

  void runOnOperation() override {
    // Stream the value: the diagnostic prints the option object as a stray character.
    if (int64_t value = alignment; value <= 0) {
      getOperation().emitError("ds-plan-memory: alignment must be positive, got ") << value;
      return signalPassFailure();
    }
    for (auto program : getOperation().getOps<dsx::ProgramOp>())
      if (failed(planProgram(program, alignment, report)))
        return signalPassFailure();
  }
};

} // namespace
