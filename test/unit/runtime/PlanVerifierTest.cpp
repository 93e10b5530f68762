// verifyPlan: each rule the executor's safety rests on, with the message it gives.
#include "runtime/plan/PlanVerifier.h"

#include <gtest/gtest.h>

#include <functional>

using namespace ds::rt;

namespace {

int32_t add(Plan &plan, std::string name, BufferRole role, std::vector<int64_t> shape,
            std::string init = "") {
  PlanBuffer buffer;
  buffer.name = std::move(name);
  buffer.role = role;
  buffer.shape = std::move(shape);
  buffer.init = std::move(init);
  plan.buffers.push_back(buffer);
  return static_cast<int32_t>(plan.buffers.size() - 1);
}

// p (param) -> t1 -> t2 -> loss; t1 and t2 are live together, t3 only after t1 died.
Plan validPlan() {
  Plan plan;
  plan.batch = 1;
  plan.seq = 4;
  plan.vocabSize = 8;
  int32_t p = add(plan, "p", BufferRole::Param, {16}, "normal");
  int32_t t1 = add(plan, "t1", BufferRole::Temporary, {16});
  int32_t t2 = add(plan, "t2", BufferRole::Temporary, {16});
  int32_t t3 = add(plan, "t3", BufferRole::Temporary, {16});
  int32_t loss = add(plan, "loss", BufferRole::Output, {});
  PlanLaunch a{"linear", {p}, {t1}, {}}, b{"linear", {t1}, {t2}, {}}, c{"linear", {t2}, {t3}, {}},
      d{"cross_entropy", {t3}, {loss}, {}};
  plan.launches = {a, b, c, d};
  plan.updates = {{t3, p}};
  EXPECT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  return plan;
}

void expectError(const Plan &plan, const std::string &fragment) {
  Status status = verifyPlan(plan);
  ASSERT_FALSE(status.isOk()) << "expected an error containing: " << fragment;
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
}

TEST(PlanVerifier, AcceptsAValidPlanAndReuse) {
  Plan plan = validPlan();
  EXPECT_TRUE(verifyPlan(plan).isOk()) << verifyPlan(plan).message();
  // t3 is first written after t1's last read, so it may take t1's bytes.
  plan.buffers[3].offset = plan.buffers[1].offset;
  EXPECT_TRUE(verifyPlan(plan).isOk()) << verifyPlan(plan).message();
}

// An in-place kernel (Plan.h: cross_entropy_grad) may write its output over an input that
// dies at that launch; any other kernel may not, nor may it when the input lives on.
TEST(PlanVerifier, InPlaceOnlyForInPlaceKernelsWhoseInputDies) {
  Plan plan = validPlan();
  plan.buffers[3].offset = plan.buffers[2].offset; // t3 over t2, at launch 2 (t2 -> t3)
  expectError(plan, "overlaps live buffer 2 ('t2') at launch 2");
  plan.launches[2].kernel = "cross_entropy_grad";
  EXPECT_TRUE(verifyPlan(plan).isOk()) << verifyPlan(plan).message();
  plan.launches[3].inputs.push_back(2); // t2 read again after launch 2
  expectError(plan, "overlaps live buffer 2 ('t2') at launch 2");
}

// A view (t1 as [4, 4]) read by launch 2 keeps t1's bytes live there: t3, written by
// launch 2, may no longer take them.
TEST(PlanVerifier, ViewsKeepTheirSourceLive) {
  Plan plan = validPlan();
  int32_t view = add(plan, "", BufferRole::Temporary, {4, 4});
  plan.buffers[view].viewOf = 1;
  plan.launches[2].inputs.push_back(view);
  ASSERT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  EXPECT_EQ(plan.buffers[view].offset, plan.buffers[1].offset);
  EXPECT_TRUE(verifyPlan(plan).isOk()) << verifyPlan(plan).message();
  plan.buffers[3].offset = plan.buffers[1].offset;
  expectError(plan, "overlaps live buffer 1 ('t1') at launch 2");
}

TEST(PlanVerifier, RejectsMalformedViews) {
  auto withView = [](int32_t source, std::vector<int64_t> shape) {
    Plan plan = validPlan();
    int32_t view = add(plan, "", BufferRole::Temporary, std::move(shape));
    plan.buffers[view].viewOf = source;
    plan.launches[3].inputs.push_back(view);
    EXPECT_TRUE(layoutPlanWithoutReuse(plan).isOk());
    return plan;
  };
  Plan plan = withView(2, {4, 4});
  ASSERT_TRUE(verifyPlan(plan).isOk()) << verifyPlan(plan).message();
  plan.buffers.back().viewOf = 42;
  expectError(plan, "view_of 42 is neither -1 nor the id of another buffer");
  plan = withView(0, {16});
  expectError(plan, "is a temporary viewing a param; a view is a temporary over a temporary or output");
  plan = withView(2, {17});
  expectError(plan, "must have the dtype and offset of the buffer 2 ('t2') it views and no more bytes");
  plan = withView(2, {16});
  plan.buffers.back().offset += 64;
  expectError(plan, "must have the dtype and offset");
  plan = withView(2, {16});
  int32_t viewOfView = add(plan, "", BufferRole::Temporary, {16});
  plan.buffers[viewOfView].viewOf = static_cast<int32_t>(plan.buffers.size() - 2);
  plan.buffers[viewOfView].offset = plan.buffers[2].offset;
  expectError(plan, "itself a view");
  plan = withView(2, {16});
  plan.launches[3].outputs.push_back(static_cast<int32_t>(plan.buffers.size() - 1));
  expectError(plan, "a view; views are read-only");
  plan = withView(3, {16});
  plan.launches[0].inputs.push_back(static_cast<int32_t>(plan.buffers.size() - 1));
  expectError(plan, "buffer 3 ('t3') is read by launch 0 before any earlier launch writes it");
}

TEST(PlanVerifier, RejectsOverlapOfLiveTemporaries) {
  Plan plan = validPlan();
  plan.buffers[2].offset = plan.buffers[1].offset; // t2 is written while t1 is read
  expectError(plan, "overlaps live buffer 1 ('t1')");
}

TEST(PlanVerifier, RejectsOutputSharingWithLaterTemporary) {
  Plan plan = validPlan();
  // The output is live to the end of the step, so nothing after it may reuse its bytes.
  int32_t late = add(plan, "late", BufferRole::Temporary, {1});
  plan.launches.push_back({"linear", {0}, {late}, {}});
  ASSERT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  plan.buffers[late].offset = plan.buffers[4].offset;
  expectError(plan, "overlaps live buffer 4 ('loss')");
}

TEST(PlanVerifier, UpdateSourceStaysLiveToTheEnd) {
  Plan plan = validPlan();
  // t3 is read last by launch 3, but the update copies it after every launch.
  int32_t late = add(plan, "late", BufferRole::Temporary, {16});
  plan.launches.push_back({"linear", {0}, {late}, {}});
  ASSERT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  plan.buffers[late].offset = plan.buffers[3].offset;
  expectError(plan, "overlaps live buffer 3 ('t3')");
  plan.buffers[late].offset = plan.buffers[1].offset; // t1 is dead by then
  EXPECT_TRUE(verifyPlan(plan).isOk()) << verifyPlan(plan).message();
}

TEST(PlanVerifier, OffsetsAndRegions) {
  Plan plan = validPlan();
  plan.buffers[0].offset = 8;
  expectError(plan, "not a non-negative multiple of 64");
  plan = validPlan();
  plan.buffers[0].offset = plan.persistentBytes; // a param above the persistent region
  expectError(plan, "lie outside its region [0, ");
  plan = validPlan();
  plan.buffers[1].offset = plan.arenaBytes;
  expectError(plan, "lie outside its region");
  plan = validPlan();
  plan.buffers[1].offset = 0; // a temporary inside the persistent region
  expectError(plan, "lie outside its region");
  plan = validPlan();
  plan.arenaBytes += 32;
  expectError(plan, "must be multiples of 64");
}

TEST(PlanVerifier, PersistentBuffersAreDisjoint) {
  Plan plan = validPlan();
  add(plan, "q", BufferRole::Param, {4}, "zeros");
  ASSERT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  plan.buffers.back().offset = 0;
  expectError(plan, "overlap in the persistent region");
}

TEST(PlanVerifier, ShapesAndDtypes) {
  Plan plan = validPlan();
  plan.buffers[1].shape = {-1};
  expectError(plan, "dimension 0 is negative");
  plan = validPlan();
  plan.buffers[1].shape = {int64_t(1) << 40, int64_t(1) << 40};
  expectError(plan, "too large");
  plan = validPlan();
  plan.buffers[1].dtype = static_cast<DType>(9);
  expectError(plan, "unknown dtype code 9");
}

TEST(PlanVerifier, LaunchesAndUpdates) {
  Plan plan = validPlan();
  plan.launches[1].inputs = {42};
  expectError(plan, "launch 1 ('linear') input buffer id 42 is out of range");
  plan = validPlan();
  plan.launches[0].outputs = {-1};
  expectError(plan, "output buffer id -1 is out of range");
  plan = validPlan();
  plan.updates[0].target = 1;
  expectError(plan, "is a temporary, not a param");
  plan = validPlan();
  plan.buffers[3].shape = {8};
  expectError(plan, "differ in dtype or shape");
  plan = validPlan();
  plan.updates.push_back(plan.updates[0]);
  expectError(plan, "is updated twice");
  plan = validPlan();
  std::swap(plan.launches[0], plan.launches[1]);
  expectError(plan, "is read by launch 0 before any earlier launch writes it");
}

TEST(PlanVerifier, NamesInitsAndMeta) {
  Plan plan = validPlan();
  plan.buffers[0].init = "uniform";
  expectError(plan, "init 'uniform' is not one of normal, ones, zeros");
  plan = validPlan();
  plan.buffers[4].name = "";
  expectError(plan, "needs a name");
  plan = validPlan();
  plan.batch = 0;
  expectError(plan, "batch 0 and seq 4 must be positive");
  plan = validPlan();
  plan.version = 1;
  expectError(plan, "format version 1 is not supported");
  plan = validPlan();
  PlanCheckOptions options;
  options.kernelExists = [](const std::string &k) { return k == "linear"; };
  Status status = verifyPlan(plan, options);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("launch 3 uses kernel 'cross_entropy'"), std::string::npos);
}

} // namespace
