// The expert-placement algorithm: known optima, EPLB's construction as the baseline, the
// DeepSeek-V3 prefill deployment shape, and the errors for impossible requests.
#include "passes/ExpertPlacementAlgorithm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

namespace {

using ds::Placement;
using ds::PlacementProblem;

double maxGpuLoad(const Placement &p) {
  return *std::max_element(p.gpuLoad.begin(), p.gpuLoad.end());
}

// Six experts on two GPUs of three slots: longest-processing-time first puts {9, 8, 5}
// together (22), while {11, 9, 1} / {8, 7, 5} reaches 21, the optimum (the total is 41).
TEST(ExpertPlacement, FindsTheKnownOptimumWhereGreedyPackingMissesIt) {
  PlacementProblem problem;
  problem.expertLoad = {11, 9, 8, 7, 5, 1};
  problem.numGpus = 2;
  Placement greedy = ds::placeExpertsConstructive(problem);
  Placement ours = ds::placeExperts(problem);
  EXPECT_DOUBLE_EQ(maxGpuLoad(greedy), 22.0);
  EXPECT_DOUBLE_EQ(maxGpuLoad(ours), 21.0);
  EXPECT_NEAR(ours.maxOverMean, 21.0 / 20.5, 1e-12);
}

// One very hot expert among cold ones: replication splits it, and the best any placement can
// do is limited by the slot granularity. Loads 60, 20, 20, 20 on 2 GPUs x 3 slots (2
// redundant): the hot expert gets 3 replicas of 20, every slot weighs 20, the optimum 60/60.
TEST(ExpertPlacement, ReplicatesTheHotExpertToReachPerfectBalance) {
  PlacementProblem problem;
  problem.expertLoad = {60, 20, 20, 20};
  problem.numGpus = 2;
  problem.redundantSlots = 2;
  Placement ours = ds::placeExperts(problem);
  EXPECT_DOUBLE_EQ(ours.maxOverMean, 1.0);
  EXPECT_EQ(std::count(ours.phy2log.begin(), ours.phy2log.end(), 0), 3);
}

// Exhaustive check on random small cases without replication: the swap search reaches the
// optimum of two-GPU packings (a local optimum of pairwise swaps is global for two bins of
// three items in these cases) and is never worse than the construction.
TEST(ExpertPlacement, MatchesBruteForceOnTwoGpus) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> load(1, 40);
  for (int trial = 0; trial < 200; ++trial) {
    PlacementProblem problem;
    for (int e = 0; e < 6; ++e)
      problem.expertLoad.push_back(load(rng));
    problem.numGpus = 2;
    double total = 0;
    for (double l : problem.expertLoad)
      total += l;
    double best = total;
    for (int mask = 0; mask < 64; ++mask) {
      if (__builtin_popcount(mask) != 3)
        continue;
      double a = 0;
      for (int e = 0; e < 6; ++e)
        if (mask & (1 << e))
          a += problem.expertLoad[e];
      best = std::min(best, std::max(a, total - a));
    }
    Placement ours = ds::placeExperts(problem);
    Placement greedy = ds::placeExpertsConstructive(problem);
    EXPECT_LE(maxGpuLoad(ours), maxGpuLoad(greedy));
    EXPECT_DOUBLE_EQ(maxGpuLoad(ours), best)
        << "trial " << trial << ": far from the optimum " << best;
  }
}

// DeepSeek-V3's prefill deployment: 256 experts in 8 groups, 4 nodes x 8 GPUs, 32 redundant
// slots (9 per GPU), skewed loads. Groups stay whole on one node, and the result is no worse
// than EPLB's construction on the same loads.
TEST(ExpertPlacement, V3PrefillDeploymentKeepsGroupsOnNodesAndBeatsTheConstruction) {
  PlacementProblem problem;
  std::mt19937 rng(2024);
  std::lognormal_distribution<double> skew(0.0, 1.0);
  for (int e = 0; e < 256; ++e)
    problem.expertLoad.push_back(1000.0 * skew(rng));
  problem.numGroups = 8;
  problem.numNodes = 4;
  problem.numGpus = 32;
  problem.redundantSlots = 32;
  ASSERT_EQ(ds::validatePlacementProblem(problem), "");

  Placement eplb = ds::placeExpertsConstructive(problem);
  Placement ours = ds::placeExperts(problem);
  ds::Placement before = ds::uniformPlacement(problem);
  EXPECT_TRUE(ours.hierarchical);
  EXPECT_EQ(ours.slotsPerGpu, 9);
  ASSERT_EQ(ours.phy2log.size(), 288u);
  EXPECT_LE(ours.maxOverMean, eplb.maxOverMean);
  EXPECT_LT(ours.maxOverMean, before.maxOverMean);
  ::testing::Test::RecordProperty("uniform_max_over_mean", std::to_string(before.maxOverMean));
  ::testing::Test::RecordProperty("eplb_max_over_mean", std::to_string(eplb.maxOverMean));
  ::testing::Test::RecordProperty("ds_max_over_mean", std::to_string(ours.maxOverMean));

  std::set<int64_t> placed(ours.phy2log.begin(), ours.phy2log.end());
  EXPECT_EQ(placed.size(), 256u) << "every logical expert needs at least one slot";
  std::map<int64_t, std::set<int64_t>> nodesOfGroup;
  for (size_t slot = 0; slot < ours.phy2log.size(); ++slot)
    nodesOfGroup[ours.phy2log[slot] / 32].insert(slot / 9 / 8);
  for (auto &[group, nodes] : nodesOfGroup)
    EXPECT_EQ(nodes.size(), 1u) << "group " << group << " spans several nodes";
}

// When the groups do not divide among the nodes, placement falls back to the global mode.
TEST(ExpertPlacement, GlobalModeWhenGroupsDoNotDivideAmongNodes) {
  PlacementProblem problem;
  for (int e = 0; e < 12; ++e)
    problem.expertLoad.push_back(1 + e * e);
  problem.numGroups = 3;
  problem.numNodes = 2;
  problem.numGpus = 4;
  problem.redundantSlots = 4;
  Placement ours = ds::placeExperts(problem);
  EXPECT_FALSE(ours.hierarchical);
  EXPECT_LE(ours.maxOverMean, ds::placeExpertsConstructive(problem).maxOverMean);
}

TEST(ExpertPlacement, RejectsImpossibleRequestsWithAMessage) {
  PlacementProblem problem;
  problem.expertLoad.assign(64, 1.0);
  problem.numGpus = 6;
  EXPECT_NE(ds::validatePlacementProblem(problem).find("do not divide evenly among 6 GPUs"),
            std::string::npos);
  problem.numGpus = 8;
  problem.numNodes = 3;
  EXPECT_NE(ds::validatePlacementProblem(problem).find("must divide evenly among 3 nodes"),
            std::string::npos);
  problem.numNodes = 1;
  problem.redundantSlots = 64 * 8;
  EXPECT_NE(ds::validatePlacementProblem(problem).find("exceed what 8 GPUs"), std::string::npos);
  problem.redundantSlots = 0;
  problem.numGroups = 5;
  EXPECT_NE(ds::validatePlacementProblem(problem).find("routing groups (5)"), std::string::npos);
  problem.numGroups = 8;
  problem.expertLoad[3] = -1;
  EXPECT_NE(ds::validatePlacementProblem(problem).find("expert 3"), std::string::npos);
}

} // namespace
