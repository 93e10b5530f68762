// The training loop on a hand-built plan run by the CPU kernels: a bigram language model
// (embedding -> output head -> cross-entropy, its backward, global-norm clipping, AdamW),
// laid out as ds-compile lays out a step, trained on repetitive text. The loss must fall,
// and two runs with one seed must agree on every metric but the timing keys.
#include "runtime/train/TrainJob.h"
#include "runtime/plan/PlanVerifier.h"
#include "runtime/train/TokenData.h"
#include "test/unit/runtime/BigramPlan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

using namespace ds::rt;

namespace {

constexpr int64_t kBatch = 4, kSeq = 16, kVocab = 256, kWidth = 16;

Plan bigramPlan() {
  test::BigramOptions o;
  o.batch = kBatch;
  o.seq = kSeq;
  o.vocab = kVocab;
  o.width = kWidth;
  o.mainLoss = true;
  return test::bigramPlan(o);
}

// Stands in for a router's expert counts: token ids modulo the number of experts.
Status testCounts(KernelCall &call) {
  const TensorView &ids = call.inputs[0], &counts = call.outputs[0];
  for (int64_t e = 0; e < counts.numElements(); ++e)
    counts.as<int32_t>()[e] = 0;
  for (int64_t i = 0; i < ids.numElements(); ++i)
    ++counts.as<int32_t>()[ids.as<int32_t>()[i] % counts.numElements()];
  return Status::ok();
}

KernelFn resolve(const std::string &name) {
  if (name == "test_fill")
    return test::testFill;
  if (name == "test_counts")
    return testCounts;
  return lookupKernel(Backend::Cpu, name);
}

std::vector<int32_t> repetitiveText() {
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += "the quick brown fox jumps over the lazy dog. ";
  return tokenizeBytes(text);
}

TrainOptions options(int64_t steps, std::string metrics = "") {
  TrainOptions o;
  o.schedule = {3e-2, 5, steps, 0.1};
  o.seed = 11;
  o.metricsPath = std::move(metrics);
  return o;
}

std::vector<StepMetrics> train(int64_t steps, const std::string &metrics = "") {
  Expected<TrainJob> job =
      TrainJob::create(bigramPlan(), repetitiveText(), "text", options(steps, metrics), resolve);
  EXPECT_TRUE(job.isOk()) << job.status().message();
  std::vector<StepMetrics> seen;
  if (!job.isOk())
    return seen;
  Status status = job->run([&](const StepMetrics &m) { seen.push_back(m); });
  EXPECT_TRUE(status.isOk()) << status.message();
  return seen;
}

TEST(TrainJob, HandBuiltPlanIsValid) {
  PlanCheckOptions check;
  check.kernelExists = [](const std::string &k) { return resolve(k) != nullptr; };
  Status status = verifyPlan(bigramPlan(), check);
  EXPECT_TRUE(status.isOk()) << status.message();
}

TEST(TrainJob, LossFallsOnRepetitiveText) {
  std::vector<StepMetrics> steps = train(40);
  ASSERT_EQ(steps.size(), 40u);
  EXPECT_NEAR(steps[0].loss, std::log(256.0), 0.1); // small init: near-uniform predictions
  EXPECT_LT(steps.back().loss, steps[0].loss - 2.0);
  EXPECT_EQ(steps[0].lossParts.size(), 1u);
  EXPECT_EQ(steps[0].lossParts[0].first, "loss_main");
  EXPECT_EQ(steps[7].lossParts[0].second, steps[7].loss);
  EXPECT_TRUE(steps[0].hasGradNorm);
  EXPECT_GT(steps[0].gradNorm, 0);
  EXPECT_DOUBLE_EQ(steps[4].lr, 3e-2);
}

TEST(TrainJob, SameSeedSameMetricsButTiming) {
  std::string a = ::testing::TempDir() + "/a.jsonl", b = ::testing::TempDir() + "/b.jsonl";
  train(6, a);
  train(6, b);
  std::ifstream fa(a), fb(b);
  std::string la, lb;
  int lines = 0;
  while (std::getline(fa, la)) {
    ASSERT_TRUE(static_cast<bool>(std::getline(fb, lb)));
    // Timing keys come last (Metrics.h), so the lines agree up to the first of them.
    std::string cut = std::string(",\"") + kTimingMetricKeys[0];
    ASSERT_NE(la.find(cut), std::string::npos);
    EXPECT_EQ(la.substr(0, la.find(cut)), lb.substr(0, lb.find(cut)));
    ++lines;
  }
  EXPECT_EQ(lines, 6);
}

TEST(TrainJob, ExpertCountsBecomeExpertLoad) {
  Plan plan = bigramPlan();
  PlanBuffer counts;
  counts.name = "expert_counts.3";
  counts.role = BufferRole::Output;
  counts.dtype = DType::I32;
  counts.shape = {4};
  plan.buffers.push_back(counts);
  int32_t id = static_cast<int32_t>(plan.buffers.size() - 1);
  plan.launches.push_back({"test_counts", {plan.launches[0].outputs[0]}, {id}, {}});
  ASSERT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  Expected<TrainJob> job = TrainJob::create(plan, repetitiveText(), "text", options(1), resolve);
  ASSERT_TRUE(job.isOk()) << job.status().message();
  StepMetrics seen;
  ASSERT_TRUE(job->run([&](const StepMetrics &m) { seen = m; }).isOk());
  ASSERT_EQ(seen.expertLoad.size(), 1u);
  const std::vector<int64_t> &load = seen.expertLoad.at(3);
  ASSERT_EQ(load.size(), 4u);
  EXPECT_EQ(load[0] + load[1] + load[2] + load[3], kBatch * kSeq);
  EXPECT_NE(seen.toJson().find("\"expert_load\":{\"3\":["), std::string::npos);
}

TEST(TrainJob, ClearErrorsForDataAndPlan) {
  std::vector<int32_t> bad = repetitiveText();
  bad[17] = 300;
  Expected<TrainJob> job = TrainJob::create(bigramPlan(), bad, "bad.u16", options(2), resolve);
  ASSERT_FALSE(job.isOk());
  EXPECT_NE(job.status().message().find("bad.u16: token 17 has id 300"), std::string::npos);

  job = TrainJob::create(bigramPlan(), {1, 2, 3}, "tiny.u16", options(2), resolve);
  ASSERT_FALSE(job.isOk());
  EXPECT_NE(job.status().message().find("fewer than one training window of 17"), std::string::npos);

  Plan noLr = bigramPlan();
  noLr.buffers[1].name = "learning_rate";
  job = TrainJob::create(noLr, repetitiveText(), "text", options(2), resolve);
  ASSERT_FALSE(job.isOk());
  EXPECT_NE(job.status().message().find("no input 'lr'"), std::string::npos);

  job = TrainJob::create(bigramPlan(), repetitiveText(), "text", options(2),
                         [](const std::string &k) { return lookupKernel(Backend::Cpu, k); });
  ASSERT_FALSE(job.isOk());
  EXPECT_NE(job.status().message().find("kernel 'test_fill'"), std::string::npos);
}

TEST(TrainJob, KernelErrorNamesStepAndLaunch) {
  Plan plan = bigramPlan();
  plan.launches[0].attrs.setInt("size", kSeq + 5); // slice past the end of tokens
  Expected<TrainJob> job = TrainJob::create(plan, repetitiveText(), "text", options(2), resolve);
  ASSERT_TRUE(job.isOk()) << job.status().message();
  Status status = job->run(nullptr);
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.message().rfind("step 1: launch 0 ('slice'): ", 0), 0u) << status.message();
}

} // namespace
