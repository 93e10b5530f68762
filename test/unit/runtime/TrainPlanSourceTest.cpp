// Loading the plan a run starts from: file errors, kernel check, batch/seq agreement.
#include "runtime/plan/PlanWriter.h"
#include "runtime/train/PlanSource.h"

#include <gtest/gtest.h>

#include <cstdio>

using namespace ds::rt;

namespace {

// loss = 2 * p: the smallest plan whose kernel the CPU registry has.
Plan scalePlan(const std::string &kernel = "scale") {
  Plan plan;
  plan.batch = 4;
  plan.seq = 64;
  plan.vocabSize = 512;
  PlanBuffer p{"p", BufferRole::Param, DType::F32, {}, 0, "ones"};
  PlanBuffer loss{"loss", BufferRole::Output, DType::F32, {}, 0, ""};
  plan.buffers = {p, loss};
  plan.launches.push_back({kernel, {0}, {1}, {}});
  plan.launches.back().attrs.setFloat("factor", 2.0);
  EXPECT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  return plan;
}

std::string written(const Plan &plan, const std::string &name) {
  std::string path = ::testing::TempDir() + "/" + name;
  EXPECT_TRUE(writePlanFile(plan, path).isOk());
  return path;
}

std::string loadError(const PlanRequest &request) {
  Expected<Plan> plan = loadTrainingPlan(request);
  return plan.isOk() ? "" : plan.status().message();
}

TEST(TrainPlanSource, LoadsAPlanAndChecksBatchAndSeq) {
  PlanRequest request;
  request.path = written(scalePlan(), "scale.dsplan");
  EXPECT_EQ(loadError(request), "");
  request.batch = 4;
  request.seq = 64;
  EXPECT_EQ(loadError(request), "");
  request.batch = 8;
  EXPECT_NE(loadError(request).find("plan was compiled for batch 4 but --batch is 8; recompile"),
            std::string::npos);
  request.batch = 0;
  request.seq = 32;
  EXPECT_NE(loadError(request).find("plan was compiled for seq 64 but --seq is 32"),
            std::string::npos);
}

TEST(TrainPlanSource, UnknownKernelMissingFileAndBadExtension) {
  PlanRequest request;
  request.path = written(scalePlan("scale_v2"), "unknown.dsplan");
  EXPECT_NE(loadError(request).find("kernel 'scale_v2' which this runtime does not provide"),
            std::string::npos);
  request.path = ::testing::TempDir() + "/absent.dsplan";
  EXPECT_NE(loadError(request).find("No such file or directory"), std::string::npos);
  request.path = written(scalePlan(), "plan.bin");
  EXPECT_NE(loadError(request).find("expected a compiled plan (.dsplan) or a model spec (.json)"),
            std::string::npos);
}

TEST(TrainPlanSource, SpecNeedsDsCompileBesideTheTool) {
  std::string spec = ::testing::TempDir() + "/spec.json";
  std::FILE *file = std::fopen(spec.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("{}", file);
  std::fclose(file);
  PlanRequest request;
  request.path = spec;
  request.toolDir = ::testing::TempDir() + "/no-tools-here";
  EXPECT_NE(loadError(request).find("no executable ds-compile next to ds-train"),
            std::string::npos);
}

} // namespace
