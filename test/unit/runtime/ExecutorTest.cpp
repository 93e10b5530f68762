// The executor with kernels supplied by the test: launch order, bindings, updates, errors.
#include "runtime/core/Executor.h"
#include "runtime/train/Initialize.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace ds::rt;

namespace {

int32_t add(Plan &plan, std::string name, BufferRole role, std::vector<int64_t> shape,
            std::string init = "") {
  PlanBuffer buffer;
  buffer.name = std::move(name);
  buffer.role = role;
  buffer.dtype = DType::F32;
  buffer.shape = std::move(shape);
  buffer.init = std::move(init);
  plan.buffers.push_back(buffer);
  return static_cast<int32_t>(plan.buffers.size() - 1);
}

// out = in * factor, elementwise.
Status scaleKernel(KernelCall &call) {
  const TensorView &in = call.inputs[0];
  double factor = call.attrs.all().at("factor").real;
  for (int64_t i = 0; i < in.numElements(); ++i)
    call.outputs[0].as<float>()[i] = static_cast<float>(in.as<float>()[i] * factor);
  return Status::ok();
}

// out = sum of in.
Status sumKernel(KernelCall &call) {
  float total = 0;
  for (int64_t i = 0; i < call.inputs[0].numElements(); ++i)
    total += call.inputs[0].as<float>()[i];
  *call.outputs[0].as<float>() = total;
  return Status::ok();
}

Status failingKernel(KernelCall &) { return Status::error("shape 3x4 is not supported"); }

KernelFn resolve(const std::string &name) {
  if (name == "scale")
    return scaleKernel;
  if (name == "sum")
    return sumKernel;
  if (name == "fail")
    return failingKernel;
  return nullptr;
}

PlanLaunch launch(std::string kernel, std::vector<int32_t> in, std::vector<int32_t> out,
                  double factor = 0) {
  PlanLaunch l;
  l.kernel = std::move(kernel);
  l.inputs = std::move(in);
  l.outputs = std::move(out);
  l.attrs.all()["factor"].kind = AttrValue::Kind::Float;
  l.attrs.all()["factor"].real = factor;
  return l;
}

// weight <- weight * 0.5 every step; loss = sum(weight * 2) before the update.
Plan halvingPlan() {
  Plan plan;
  plan.batch = plan.seq = plan.vocabSize = 1;
  int32_t weight = add(plan, "w", BufferRole::Param, {3}, "ones");
  int32_t doubled = add(plan, "", BufferRole::Temporary, {3});
  int32_t halved = add(plan, "", BufferRole::Temporary, {3});
  int32_t loss = add(plan, "loss", BufferRole::Output, {});
  plan.launches = {launch("scale", {weight}, {doubled}, 2.0), launch("sum", {doubled}, {loss}),
                   launch("scale", {weight}, {halved}, 0.5)};
  plan.updates = {{halved, weight}};
  EXPECT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  return plan;
}

TEST(Executor, RunsLaunchesInOrderAndAppliesUpdates) {
  Expected<Executor> executor = Executor::create(halvingPlan(), resolve);
  ASSERT_TRUE(executor.isOk()) << executor.status().message();
  ASSERT_TRUE(initializeState(*executor, 1).isOk());
  Expected<TensorView> loss = executor->find(BufferRole::Output, "loss");
  Expected<TensorView> weight = executor->find(BufferRole::Param, "w");
  ASSERT_TRUE(loss.isOk() && weight.isOk());
  for (float expected : {6.0f, 3.0f, 1.5f}) {
    ASSERT_TRUE(executor->run().isOk());
    EXPECT_FLOAT_EQ(*loss->as<float>(), expected);
  }
  EXPECT_FLOAT_EQ(weight->as<float>()[2], 0.125f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(weight->data) % Arena::kAlignment, 0u);
}

TEST(Executor, FailingKernelNamesLaunchAndKernel) {
  Plan plan = halvingPlan();
  plan.launches[1].kernel = "fail";
  Expected<Executor> executor = Executor::create(std::move(plan), resolve);
  ASSERT_TRUE(executor.isOk());
  Status status = executor->run();
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(status.message(), "launch 1 ('fail'): shape 3x4 is not supported");
}

TEST(Executor, UnknownKernelIsAnErrorAtCreation) {
  Plan plan = halvingPlan();
  plan.launches[2].kernel = "mystery";
  Expected<Executor> executor = Executor::create(std::move(plan), resolve);
  ASSERT_FALSE(executor.isOk());
  EXPECT_NE(executor.status().message().find("launch 2 uses kernel 'mystery'"), std::string::npos);
}

TEST(Executor, BufferOutsideArenaIsRefused) {
  Plan plan = halvingPlan();
  plan.buffers[0].offset = plan.arenaBytes - 4;
  Expected<Executor> executor = Executor::create(std::move(plan), resolve);
  ASSERT_FALSE(executor.isOk());
  EXPECT_NE(executor.status().message().find("outside the arena"), std::string::npos);
}

TEST(Executor, MissingBindingIsAnError) {
  Expected<Executor> executor = Executor::create(halvingPlan(), resolve);
  ASSERT_TRUE(executor.isOk());
  EXPECT_FALSE(executor->find(BufferRole::Input, "tokens").isOk());
  EXPECT_FALSE(executor->find(BufferRole::Output, "w").isOk());
}

Plan initPlan() {
  Plan plan;
  plan.batch = plan.seq = plan.vocabSize = 1;
  plan.initializerRange = 0.5;
  add(plan, "a", BufferRole::Param, {1000, 11}, "normal");
  add(plan, "b", BufferRole::Param, {5}, "ones");
  add(plan, "c", BufferRole::Param, {5}, "zeros");
  add(plan, "exp_avg.a", BufferRole::State, {1000, 11});
  EXPECT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  return plan;
}

TEST(Executor, InitializationFollowsInitAndSeed) {
  Expected<Executor> first = Executor::create(initPlan(), resolve);
  Expected<Executor> second = Executor::create(initPlan(), resolve);
  ASSERT_TRUE(first.isOk() && second.isOk());
  ASSERT_TRUE(initializeState(*first, 7).isOk());
  ASSERT_TRUE(initializeState(*second, 7).isOk());
  const TensorView &a = first->view(0);
  double sum = 0, squares = 0;
  for (int64_t i = 0; i < a.numElements(); ++i) {
    float v = a.as<float>()[i];
    EXPECT_EQ(v, second->view(0).as<float>()[i]);
    sum += v;
    squares += double(v) * v;
  }
  double n = static_cast<double>(a.numElements());
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(std::sqrt(squares / n), 0.5, 0.02);
  EXPECT_EQ(first->view(1).as<float>()[4], 1.0f);
  EXPECT_EQ(first->view(2).as<float>()[4], 0.0f);
  EXPECT_EQ(first->view(3).as<float>()[123], 0.0f);

  ASSERT_TRUE(initializeState(*second, 8).isOk());
  EXPECT_NE(first->view(0).as<float>()[0], second->view(0).as<float>()[0]);
}

TEST(Executor, InitializationOfAParamIgnoresOtherParams) {
  Plan small = initPlan();
  small.buffers.erase(small.buffers.begin() + 1, small.buffers.begin() + 3);
  std::swap(small.buffers[0], small.buffers[1]);
  ASSERT_TRUE(layoutPlanWithoutReuse(small).isOk());
  Expected<Executor> full = Executor::create(initPlan(), resolve);
  Expected<Executor> reordered = Executor::create(std::move(small), resolve);
  ASSERT_TRUE(full.isOk() && reordered.isOk());
  ASSERT_TRUE(initializeState(*full, 3).isOk());
  ASSERT_TRUE(initializeState(*reordered, 3).isOk());
  EXPECT_EQ(full->view(0).as<float>()[10], reordered->view(1).as<float>()[10]);
}

} // namespace
