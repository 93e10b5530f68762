// The LR schedule and the metrics line format.
#include "runtime/train/CheckpointMetricsLog.h"
#include "runtime/train/LrSchedule.h"
#include "runtime/train/Metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace ds::rt;

namespace {

TEST(TrainSchedule, WarmupThenCosineToTheFloor) {
  LrSchedule s{1e-3, 10, 110, 0.1};
  ASSERT_TRUE(s.validate().isOk());
  EXPECT_DOUBLE_EQ(s.at(1), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);
  EXPECT_NEAR(s.at(60), 1e-3 * (0.1 + 0.9 * 0.5), 1e-12); // halfway through the decay
  EXPECT_DOUBLE_EQ(s.at(110), 1e-4);
  for (int64_t t = 11; t < 110; ++t)
    EXPECT_GT(s.at(t), s.at(t + 1));
  LrSchedule noWarmup{2e-3, 0, 5, 0.0};
  EXPECT_DOUBLE_EQ(noWarmup.at(1), 2e-3 * 0.5 * (1 + std::cos(3.14159265358979323846 / 5)));
}

TEST(TrainSchedule, InvalidOptionsAreNamed) {
  EXPECT_NE(LrSchedule({0, 1, 1, 0.1}).validate().message().find("--lr"), std::string::npos);
  EXPECT_NE(LrSchedule({1, -1, 1, 0.1}).validate().message().find("--warmup"), std::string::npos);
  EXPECT_NE(LrSchedule({1, 1, 0, 0.1}).validate().message().find("--steps"), std::string::npos);
  EXPECT_NE(LrSchedule({1, 1, 1, 2}).validate().message().find("--min-lr-ratio"),
            std::string::npos);
}

TEST(TrainSchedule, MetricsLine) {
  StepMetrics m;
  m.step = 3;
  m.loss = 2.5;
  m.lossParts = {{"loss_main", 2.25}, {"loss_mtp_1", 2.5}};
  m.lr = 0.001;
  m.hasGradNorm = true;
  m.gradNorm = 1.5;
  m.expertLoad[1] = {3, 1, 0, 4};
  m.tokensPerSecond = 100;
  m.stepSeconds = 0.5;
  EXPECT_EQ(m.toJson(),
            "{\"step\":3,\"loss\":2.5,\"loss_main\":2.25,\"loss_mtp_1\":2.5,\"lr\":0.001,"
            "\"grad_norm\":1.5,\"expert_load\":{\"1\":[3,1,0,4]},"
            "\"expert_load_max_over_mean\":{\"1\":2},\"tokens_per_s\":100,\"step_s\":0.5}");
  m.loss = std::nan("");
  EXPECT_NE(m.toJson().find("\"loss\":null"), std::string::npos);
  EXPECT_EQ(StepMetrics::maxOverMean({0, 0}), 0);
}

TEST(TrainSchedule, MetricsLogAppendsLines) {
  std::string path = ::testing::TempDir() + "/metrics.jsonl";
  ResumableMetricsLog writer;
  ASSERT_TRUE(writer.open(path, /*resumedStep=*/0).isOk());
  StepMetrics m;
  for (int64_t t = 1; t <= 2; ++t) {
    m.step = t;
    ASSERT_TRUE(writer.write(m).isOk());
  }
  ASSERT_TRUE(writer.close().isOk());
  std::ifstream file(path);
  std::string first, second, third;
  std::getline(file, first);
  std::getline(file, second);
  EXPECT_EQ(first.rfind("{\"step\":1,", 0), 0u);
  EXPECT_EQ(second.rfind("{\"step\":2,", 0), 0u);
  EXPECT_FALSE(std::getline(file, third));
  EXPECT_FALSE(ResumableMetricsLog().open("/nonexistent/dir/m.jsonl", 0).isOk());
}

} // namespace
