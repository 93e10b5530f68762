//===- PlanMemoryTest.cpp - arena layout on random schedules --------------===//
//
// The property every layout must have: two buffers live at a common step never share a
// byte. Checked on random lifetimes for the layout algorithm itself, and end to end on
// random ds programs through ds-lower-to-exec and ds-plan-memory, where the runtime's plan
// verifier checks the result independently.
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsDialect.h"
#include "dialects/dsx/DsxOps.h"
#include "passes/Passes.h"
#include "passes/plan/ArenaLayout.h"
#include "passes/plan/SerializePlan.h"
#include "runtime/plan/PlanVerifier.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

using namespace ds;

namespace {

void expectValidLayout(const std::vector<plan::LiveRange> &ranges, const plan::ArenaLayout &layout,
                       int64_t alignment) {
  ASSERT_EQ(layout.offsets.size(), ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_EQ(layout.offsets[i] % alignment, 0) << "range " << i;
    EXPECT_LE(layout.offsets[i] + ranges[i].bytes, layout.arenaBytes) << "range " << i;
    for (size_t j = i + 1; j < ranges.size(); ++j) {
      if (!plan::liveTogether(ranges[i], ranges[j]) || !ranges[i].bytes || !ranges[j].bytes)
        continue;
      bool disjoint = layout.offsets[i] + ranges[i].bytes <= layout.offsets[j] ||
                      layout.offsets[j] + ranges[j].bytes <= layout.offsets[i];
      EXPECT_TRUE(disjoint) << "ranges " << i << " and " << j << " are live together and overlap";
    }
  }
  EXPECT_GE(layout.arenaBytes, layout.peakLiveBytes);
  EXPECT_LE(layout.arenaBytes, layout.totalBytes);
}

TEST(ArenaLayoutTest, RandomLifetimesNeverOverlapWhileLive) {
  std::mt19937_64 rng(20250101);
  for (int trial = 0; trial < 300; ++trial) {
    int64_t steps = 1 + rng() % 40;
    int64_t alignment = int64_t(1) << (rng() % 8);
    std::vector<plan::LiveRange> ranges(rng() % 60);
    for (plan::LiveRange &range : ranges) {
      // Mostly small buffers with a few large ones, as in a training graph.
      range.bytes = rng() % 4 == 0 ? rng() % 100000 : rng() % 600;
      range.firstStep = rng() % steps;
      range.lastStep = range.firstStep + rng() % (steps - range.firstStep);
    }
    plan::ArenaLayout layout = plan::layoutArena(ranges, alignment);
    SCOPED_TRACE("trial " + std::to_string(trial));
    expectValidLayout(ranges, layout, alignment);
  }
}

TEST(ArenaLayoutTest, ReusesBytesOfDeadBuffers) {
  // A chain: each buffer is read by the step after the one that writes it.
  std::vector<plan::LiveRange> chain;
  for (int64_t step = 0; step < 10; ++step)
    chain.push_back({1000, step, step + 1});
  plan::ArenaLayout layout = plan::layoutArena(chain, 64);
  expectValidLayout(chain, layout, 64);
  EXPECT_EQ(layout.arenaBytes, 2 * 1024); // two live at a time, ping-pong
  EXPECT_EQ(layout.totalBytes, 10 * 1024);
}

TEST(ArenaLayoutTest, DisjointLifetimesShareOffsetZero) {
  std::vector<plan::LiveRange> ranges = {{4096, 0, 0}, {64, 1, 1}, {128, 2, 3}};
  plan::ArenaLayout layout = plan::layoutArena(ranges, 64);
  EXPECT_EQ(layout.offsets, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(layout.arenaBytes, 4096);
  EXPECT_EQ(layout.peakLiveBytes, 4096);
}

/// A random straight-line step over [rows, 16] f32 values: unary scales, binary adds
/// and muls of earlier values, a few outputs, and an update of the one parameter.
std::string randomStep(std::mt19937_64 &rng) {
  std::ostringstream ir;
  ir << "module attributes {ds.model_type = \"test\", ds.spec = \"{}\", ds.batch = 1 : i64, "
        "ds.seq = 1 : i64, ds.vocab_size = 1 : i64, ds.mtp_depth = 0 : i64, "
        "ds.initializer_range = 0.02 : f64} {\n";
  ir << "func.func @train_step(%x: tensor<16xf32> {ds.input = \"x\"}, "
        "%w: tensor<16xf32> {ds.param = \"w\", ds.init = \"normal\"}) -> ("
        "tensor<16xf32> {ds.update = \"w\"}, tensor<16xf32> {ds.output = \"y\"}) {\n";
  std::vector<std::string> values = {"%x", "%w"};
  int ops = 2 + rng() % 40;
  for (int i = 0; i < ops; ++i) {
    std::string a = values[rng() % values.size()], b = values[rng() % values.size()];
    std::string name = "%v" + std::to_string(i);
    if (rng() % 3 == 0)
      ir << name << " = ds.scale " << a << " {factor = 0.5 : f64} : (tensor<16xf32>) -> tensor<16xf32>\n";
    else
      ir << name << " = ds." << (rng() % 2 ? "add " : "mul ") << a << ", " << b
         << " : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>\n";
    values.push_back(name);
  }
  std::string update = values[2 + rng() % ops], output = values[2 + rng() % ops];
  ir << "return " << update << ", " << output << " : tensor<16xf32>, tensor<16xf32>\n}\n}\n";
  return ir.str();
}

TEST(PlanMemoryPassTest, RandomStepsMakeValidPlans) {
  mlir::MLIRContext context;
  context.loadDialect<DsDialect, dsx::DsxDialect, mlir::func::FuncDialect,
                      mlir::arith::ArithDialect>();
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::string step = randomStep(rng);
    SCOPED_TRACE(step);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(step, &context);
    ASSERT_TRUE(module);
    mlir::PassManager pm(&context);
    pm.addPass(createDsLowerToExec());
    pm.addPass(createDsPlanMemory());
    ASSERT_TRUE(mlir::succeeded(pm.run(*module)));

    mlir::FailureOr<rt::Plan> plan = buildRuntimePlan(*module);
    ASSERT_TRUE(mlir::succeeded(plan));
    rt::Status verified = rt::verifyPlan(*plan);
    EXPECT_TRUE(verified.isOk()) << verified.message();

    // The update source is copied after the last launch: nothing written after its
    // producer may share its bytes, which the runtime's verifier does not check.
    ASSERT_EQ(plan->updates.size(), 1u);
    const rt::PlanBuffer &source = plan->buffers[plan->updates[0].source];
    bool written = false;
    for (const rt::PlanLaunch &launch : plan->launches) {
      for (int32_t id : launch.outputs) {
        if (id == plan->updates[0].source) {
          written = true;
          continue;
        }
        const rt::PlanBuffer &other = plan->buffers[id];
        bool disjoint = other.offset + other.sizeInBytes() <= source.offset ||
                        source.offset + source.sizeInBytes() <= other.offset;
        EXPECT_TRUE(!written || disjoint) << "launch " << launch.kernel
                                          << " overwrites the update source";
      }
    }
  }
}

} // namespace
