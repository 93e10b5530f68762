//===- SerializePlanTest.cpp - dsx.program to the runtime's plan ----------===//
#include "dialects/ds/DsDialect.h"
#include "dialects/dsx/DsxOps.h"
#include "passes/Passes.h"
#include "passes/plan/SerializePlan.h"
#include "runtime/plan/PlanReader.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

using namespace ds;

namespace {

constexpr const char *kStep = R"mlir(
module attributes {ds.model_type = "deepseek_v3", ds.spec = "{\"vocab_size\": 8}",
                   ds.batch = 2 : i64, ds.seq = 3 : i64, ds.vocab_size = 8 : i64,
                   ds.mtp_depth = 1 : i64, ds.initializer_range = 0.006 : f64} {
  func.func @train_step(%tokens: tensor<2x4xi32> {ds.input = "tokens"},
                        %w: tensor<8x4xf32> {ds.param = "model.embed_tokens.weight", ds.init = "normal"},
                        %m: tensor<8x4xf32> {ds.state = "exp_avg.model.embed_tokens.weight"})
      -> (tensor<f32> {ds.output = "loss"}, tensor<8x4xf32> {ds.update = "model.embed_tokens.weight"},
          tensor<8x4xf32> {ds.update = "exp_avg.model.embed_tokens.weight"}) {
    %ids = ds.slice %tokens {dim = 1 : i64, offset = 0 : i64, size = 3 : i64} : (tensor<2x4xi32>) -> tensor<2x3xi32>
    %e = ds.embedding %ids, %w : (tensor<2x3xi32>, tensor<8x4xf32>) -> tensor<2x3x4xf32>
    %q:2 = ds.quantize %e {block = array<i64: 1, 2>} : (tensor<2x3x4xf32>) -> (tensor<2x3x4xf8E4M3FN>, tensor<2x3x2xf32>)
    %labels = ds.slice %tokens {dim = 1 : i64, offset = 1 : i64, size = 3 : i64} : (tensor<2x4xi32>) -> tensor<2x3xi32>
    %loss = ds.cross_entropy %e, %labels : (tensor<2x3x4xf32>, tensor<2x3xi32>) -> tensor<f32>
    %zero = arith.constant dense<0.0> : tensor<8x4xf32>
    %m2 = ds.add %m, %zero : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
    %w2 = ds.add %w, %m2 : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
    return %loss, %w2, %m2 : tensor<f32>, tensor<8x4xf32>, tensor<8x4xf32>
  }
}
)mlir";

class SerializePlanTest : public ::testing::Test {
protected:
  SerializePlanTest() {
    context.loadDialect<DsDialect, dsx::DsxDialect, mlir::func::FuncDialect,
                        mlir::arith::ArithDialect>();
  }

  mlir::OwningOpRef<mlir::ModuleOp> planned(const char *source) {
    auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
    if (!module)
      return module;
    mlir::PassManager pm(&context);
    pm.addPass(createDsLowerToExec());
    pm.addPass(createDsPlanMemory());
    if (mlir::failed(pm.run(*module)))
      return nullptr;
    return module;
  }

  mlir::MLIRContext context;
};

TEST_F(SerializePlanTest, CarriesMetadataBuffersLaunchesAndUpdates) {
  auto module = planned(kStep);
  ASSERT_TRUE(module);
  mlir::FailureOr<rt::Plan> plan = buildRuntimePlan(*module);
  ASSERT_TRUE(mlir::succeeded(plan));

  EXPECT_EQ(plan->modelType, "deepseek_v3");
  EXPECT_EQ(plan->specJson, "{\"vocab_size\": 8}");
  EXPECT_EQ(plan->batch, 2);
  EXPECT_EQ(plan->seq, 3);
  EXPECT_EQ(plan->vocabSize, 8);
  EXPECT_EQ(plan->mtpDepth, 1);
  EXPECT_DOUBLE_EQ(plan->initializerRange, 0.006);

  int32_t weight = plan->findBuffer(rt::BufferRole::Param, "model.embed_tokens.weight");
  ASSERT_GE(weight, 0);
  EXPECT_EQ(plan->buffers[weight].init, "normal");
  EXPECT_EQ(plan->buffers[weight].shape, (std::vector<int64_t>{8, 4}));
  EXPECT_GE(plan->findBuffer(rt::BufferRole::Output, "loss"), 0);
  EXPECT_EQ(plan->arenaBytes % rt::kPlanAlignment, 0);

  std::vector<std::string> kernels;
  for (const rt::PlanLaunch &launch : plan->launches)
    kernels.push_back(launch.kernel);
  EXPECT_EQ(kernels, (std::vector<std::string>{"slice", "embedding", "quantize", "slice",
                                               "cross_entropy", "fill", "add", "add"}));
  const rt::PlanLaunch &quantize = plan->launches[2];
  EXPECT_EQ(quantize.attrs.getInts("block"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(plan->buffers[quantize.outputs[0]].dtype, rt::DType::F8E4M3);
  EXPECT_EQ(plan->launches[4].attrs.getInt("ignore_index"), -100);
  EXPECT_DOUBLE_EQ(plan->launches[5].attrs.getFloat("value", -1.0), 0.0);

  ASSERT_EQ(plan->updates.size(), 2u);
  EXPECT_EQ(plan->updates[0].target, weight);
  EXPECT_EQ(plan->updates[0].source, plan->launches[7].outputs[0]);
}

TEST_F(SerializePlanTest, WritesAFileTheRuntimeReads) {
  auto module = planned(kStep);
  ASSERT_TRUE(module);
  std::string path = ::testing::TempDir() + "serialize_plan_test.dsplan";
  ASSERT_TRUE(mlir::succeeded(serializePlan(*module, path)));
  rt::Expected<rt::Plan> read = rt::readPlanFile(path, {});
  ASSERT_TRUE(read.isOk()) << read.status().message();
  EXPECT_EQ(read->launches.size(), 8u);
  EXPECT_EQ(read->modelType, "deepseek_v3");
  std::remove(path.c_str());
}

TEST_F(SerializePlanTest, ReportsMissingMetadataAndUnplannedPrograms) {
  std::string withoutBatch = kStep;
  withoutBatch.replace(withoutBatch.find("ds.batch = 2 : i64,"), 19, "");
  auto module = planned(withoutBatch.c_str());
  ASSERT_TRUE(module);
  std::string message;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
    message = diag.str();
    return mlir::success();
  });
  EXPECT_TRUE(mlir::failed(buildRuntimePlan(*module)));
  EXPECT_NE(message.find("module has no integer attribute 'ds.batch'"), std::string::npos)
      << message;

  auto unplanned = mlir::parseSourceString<mlir::ModuleOp>(kStep, &context);
  mlir::PassManager pm(&context);
  pm.addPass(createDsLowerToExec());
  ASSERT_TRUE(mlir::succeeded(pm.run(*unplanned)));
  EXPECT_TRUE(mlir::failed(buildRuntimePlan(*unplanned)));
  EXPECT_NE(message.find("has no memory plan; run ds-plan-memory first"), std::string::npos)
      << message;
}

// A reshape fused into a dsx.view is a plan buffer viewing its source: same offset,
// its own shape, read by the launch that read the reshape.
TEST_F(SerializePlanTest, ViewsNameTheirSourceAtItsOffset) {
  std::string step = kStep;
  std::string cross = "%loss = ds.cross_entropy %e, %labels";
  step.replace(step.find(cross), cross.size(),
               "%flat = ds.reshape %e : (tensor<2x3x4xf32>) -> tensor<6x4xf32>\n"
               "    %back = ds.reshape %flat : (tensor<6x4xf32>) -> tensor<2x3x4xf32>\n"
               "    %loss = ds.cross_entropy %back, %labels");
  auto module = mlir::parseSourceString<mlir::ModuleOp>(step, &context);
  ASSERT_TRUE(module);
  mlir::PassManager pm(&context);
  pm.addPass(createDsLowerToExec());
  pm.addPass(createDsFuse());
  pm.addPass(createDsPlanMemory());
  ASSERT_TRUE(mlir::succeeded(pm.run(*module)));
  mlir::FailureOr<rt::Plan> plan = buildRuntimePlan(*module);
  ASSERT_TRUE(mlir::succeeded(plan));
  const rt::PlanLaunch &loss = plan->launches[4];
  ASSERT_EQ(loss.kernel, "cross_entropy");
  const rt::PlanBuffer &logits = plan->buffers[loss.inputs[0]];
  const rt::PlanBuffer &embedded = plan->buffers[plan->launches[1].outputs[0]];
  ASSERT_EQ(plan->launches[1].kernel, "embedding");
  EXPECT_EQ(logits.viewOf, plan->launches[1].outputs[0]);
  EXPECT_EQ(logits.offset, embedded.offset);
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(logits.role, rt::BufferRole::Temporary);
}

} // namespace
