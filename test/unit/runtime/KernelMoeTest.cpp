// Forward kernels of the MoE path: router (hand-made cases: group limiting, bias steers
// selection but not weights, ties, softmax scores; plus a randomized property check),
// balance_loss, dispatch/combine, grouped_linear with empty experts, bias_update.
#include "test/unit/runtime/KernelTestUtil.h"

#include <numeric>

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

float logit(float score) { return std::log(score / (1.0f - score)); }

KernelAttrs routerAttrs(int64_t topK, int64_t groups, int64_t groupsKept,
                        const std::string &scoreFunc, const std::string &groupScore, bool norm,
                        double routedScale) {
  KernelAttrs attrs;
  attrs.setInt("top_k", topK);
  attrs.setInt("n_group", groups);
  attrs.setInt("topk_group", groupsKept);
  attrs.setString("score_func", scoreFunc);
  attrs.setString("group_score", groupScore);
  attrs.setInt("norm_topk_prob", norm ? 1 : 0);
  attrs.setFloat("routed_scale", routedScale);
  return attrs;
}

struct Routed {
  std::vector<int32_t> indices;
  std::vector<float> weights;
};

Routed route(const std::vector<float> &scores, const std::vector<float> &bias,
             const KernelAttrs &attrs, int64_t topK) {
  int64_t experts = static_cast<int64_t>(bias.size());
  int64_t tokens = static_cast<int64_t>(scores.size()) / experts;
  std::vector<float> logits;
  for (float s : scores)
    logits.push_back(logit(s));
  HostTensor logitsT = floatTensor({tokens, experts}, logits);
  HostTensor biasT = floatTensor({experts}, bias);
  HostTensor indices(DType::I32, {tokens, topK}), weights(DType::F32, {tokens, topK});
  Status status = runKernel("router", {&logitsT, &biasT}, {&indices, &weights}, attrs);
  EXPECT_TRUE(status.isOk()) << status.message();
  return {indices.indices(), weights.floats()};
}

// Groups of two: {0.9, 0.1} {0.6, 0.55} {0.95, 0.02} {0.5, 0.52}. top2_sum keeps groups 1
// (1.15) and 3 (1.02): the two best single experts (4 and 0) are out.
const std::vector<float> kGroupedScores = {0.9f, 0.1f, 0.6f, 0.55f, 0.95f, 0.02f, 0.5f, 0.52f};

TEST(KernelRouter, Top2SumGroupLimiting) {
  Routed r = route(kGroupedScores, std::vector<float>(8, 0.0f),
                   routerAttrs(3, 4, 2, "sigmoid", "top2_sum", true, 2.5), 3);
  EXPECT_EQ(r.indices, (std::vector<int32_t>{2, 3, 7}));
  float sum = 0.6f + 0.55f + 0.52f;
  expectClose(r.weights,
              std::vector<float>{0.6f / sum * 2.5f, 0.55f / sum * 2.5f, 0.52f / sum * 2.5f}, 1e-6,
              1e-5);
}

TEST(KernelRouter, MaxGroupScore) {
  // "max" keeps groups 2 (0.95) and 0 (0.9).
  Routed r = route(kGroupedScores, std::vector<float>(8, 0.0f),
                   routerAttrs(3, 4, 2, "sigmoid", "max", false, 1.0), 3);
  EXPECT_EQ(r.indices, (std::vector<int32_t>{4, 0, 1}));
  expectClose(r.weights, std::vector<float>{0.95f, 0.9f, 0.1f}, 1e-6, 1e-5);
}

TEST(KernelRouter, BiasSteersSelectionNotWeights) {
  std::vector<float> scores = {0.8f, 0.7f, 0.6f, 0.5f};
  Routed unbiased =
      route(scores, {0, 0, 0, 0}, routerAttrs(2, 1, 1, "sigmoid", "top2_sum", true, 1.0), 2);
  EXPECT_EQ(unbiased.indices, (std::vector<int32_t>{0, 1}));
  Routed biased = route(scores, {0.0f, 0.0f, 0.3f, 0.0f},
                        routerAttrs(2, 1, 1, "sigmoid", "top2_sum", true, 1.0), 2);
  EXPECT_EQ(biased.indices, (std::vector<int32_t>{2, 0})); // 0.9 > 0.8 biased
  expectClose(biased.weights, std::vector<float>{0.6f / 1.4f, 0.8f / 1.4f}, 1e-6, 1e-5);
  Routed raw = route(scores, {0.0f, 0.0f, 0.3f, 0.0f},
                     routerAttrs(2, 1, 1, "sigmoid", "top2_sum", false, 2.0), 2);
  expectClose(raw.weights, std::vector<float>{1.2f, 1.6f}, 1e-6, 1e-5);
}

TEST(KernelRouter, TiesGoToTheLowerIndex) {
  std::vector<float> flat(8, 0.5f);
  Routed r = route(flat, std::vector<float>(8, 0.0f),
                   routerAttrs(3, 4, 2, "sigmoid", "top2_sum", true, 1.0), 3);
  EXPECT_EQ(r.indices, (std::vector<int32_t>{0, 1, 2})); // groups 0 and 1, lower first
  expectClose(r.weights, std::vector<float>(3, 1.0f / 3), 1e-6, 1e-5);
}

TEST(KernelRouter, SoftmaxScores) {
  std::vector<float> logits = {0.3f, -1.2f, 2.0f, 0.7f, -0.4f, 1.1f};
  HostTensor logitsT = floatTensor({1, 6}, logits),
             bias = floatTensor({6}, std::vector<float>(6, 0));
  HostTensor indices(DType::I32, {1, 2}), weights(DType::F32, {1, 2});
  DS_EXPECT_KERNEL_OK(runKernel("router", {&logitsT, &bias}, {&indices, &weights},
                                routerAttrs(2, 3, 2, "softmax", "max", false, 16.0)));
  double z = 0;
  for (float l : logits)
    z += std::exp(double(l));
  // Groups {0,1} {2,3} {4,5} by max: group 1 (2.0), group 2 (1.1): experts 2 and 5.
  EXPECT_EQ(indices.indices(), (std::vector<int32_t>{2, 5}));
  expectClose(weights.floats(), std::vector<double>{16 * std::exp(2.0) / z, 16 * std::exp(1.1) / z},
              1e-6, 1e-5);
}

// Random logits and bias: the chosen experts lie in the topk_group best groups by the
// top-2 sum of biased scores, are the best biased scores there, in descending order,
// and the weights are the unbiased scores normalized to routed_scale.
TEST(KernelRouter, RandomizedProperties) {
  const int64_t tokens = 32, experts = 16, groups = 4, kept = 2, topK = 4;
  HostTensor logits = randomTensor({tokens, experts}, 30, 2.0f);
  HostTensor bias = randomTensor({experts}, 31, 0.2f);
  HostTensor indices(DType::I32, {tokens, topK}), weights(DType::F32, {tokens, topK});
  DS_EXPECT_KERNEL_OK(runKernel("router", {&logits, &bias}, {&indices, &weights},
                                routerAttrs(topK, groups, kept, "sigmoid", "top2_sum", true, 2.5)));
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> s(experts), biased(experts);
    for (int64_t e = 0; e < experts; ++e) {
      s[e] = 1 / (1 + std::exp(-double(logits.at(t * experts + e))));
      biased[e] = s[e] + bias.at(e);
    }
    std::vector<double> groupScore(groups);
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<double> member(biased.begin() + g * 4, biased.begin() + g * 4 + 4);
      std::sort(member.rbegin(), member.rend());
      groupScore[g] = member[0] + member[1];
    }
    std::vector<double> sortedGroups = groupScore;
    std::sort(sortedGroups.rbegin(), sortedGroups.rend());
    std::vector<double> allowed;
    for (int64_t e = 0; e < experts; ++e)
      if (groupScore[e / 4] >= sortedGroups[kept - 1])
        allowed.push_back(biased[e]);
    std::sort(allowed.rbegin(), allowed.rend());
    double sum = 0;
    for (int64_t k = 0; k < topK; ++k) {
      int32_t e = indices.index(t * topK + k);
      ASSERT_GE(groupScore[e / 4], sortedGroups[kept - 1]) << "token " << t;
      EXPECT_NEAR(biased[e], allowed[k], 1e-6) << "token " << t << " slot " << k;
      sum += s[e];
    }
    for (int64_t k = 0; k < topK; ++k)
      EXPECT_NEAR(weights.at(t * topK + k), 2.5 * s[indices.index(t * topK + k)] / sum, 1e-5);
  }
}

TEST(KernelBalanceLoss, MatchesNaive) {
  const int64_t tokens = 6, experts = 4, topK = 2, sequences = 2, seqLen = 3;
  HostTensor logits = randomTensor({tokens, experts}, 32, 2.0f);
  HostTensor indices = indexTensor({tokens, topK}, {0, 1, 1, 2, 3, 1, 2, 0, 2, 3, 0, 2});
  HostTensor loss(DType::F32, {});
  KernelAttrs attrs;
  attrs.setFloat("alpha", 0.01);
  attrs.setInt("num_sequences", sequences);
  attrs.setString("score_func", "sigmoid");
  DS_EXPECT_KERNEL_OK(runKernel("balance_loss", {&logits, &indices}, {&loss}, attrs));
  double expected = 0;
  for (int64_t q = 0; q < sequences; ++q) {
    std::vector<double> f(experts, 0), p(experts, 0);
    for (int64_t t = q * seqLen; t < (q + 1) * seqLen; ++t) {
      for (int64_t k = 0; k < topK; ++k)
        f[indices.index(t * topK + k)] += double(experts) / (topK * seqLen);
      double rowSum = 0;
      std::vector<double> s(experts);
      for (int64_t e = 0; e < experts; ++e)
        rowSum += (s[e] = 1 / (1 + std::exp(-double(logits.at(t * experts + e)))));
      for (int64_t e = 0; e < experts; ++e)
        p[e] += s[e] / rowSum / seqLen;
    }
    for (int64_t e = 0; e < experts; ++e)
      expected += 0.01 * f[e] * p[e] / sequences;
  }
  EXPECT_NEAR(loss.at(0), expected, 1e-8);
}

TEST(KernelDispatch, StableSortByExpert) {
  HostTensor x = randomTensor({3, 2}, 33);
  HostTensor indices = indexTensor({3, 2}, {2, 0, 0, 2, 1, 0});
  HostTensor permuted(DType::F32, {6, 2}), counts(DType::I32, {4}), positions(DType::I32, {3, 2});
  KernelAttrs attrs;
  attrs.setInt("num_experts", 4);
  DS_EXPECT_KERNEL_OK(
      runKernel("dispatch", {&x, &indices}, {&permuted, &counts, &positions}, attrs));
  EXPECT_EQ(counts.indices(), (std::vector<int32_t>{3, 1, 2, 0})); // expert 3 gets nothing
  // Expert 0: (t0,k1) (t1,k0) (t2,k1); expert 1: (t2,k0); expert 2: (t0,k0) (t1,k1).
  EXPECT_EQ(positions.indices(), (std::vector<int32_t>{4, 0, 1, 5, 3, 2}));
  const int sourceToken[6] = {0, 1, 2, 2, 0, 1};
  for (int row = 0; row < 6; ++row)
    for (int j = 0; j < 2; ++j)
      EXPECT_EQ(permuted.at(row * 2 + j), x.at(sourceToken[row] * 2 + j));
}

TEST(KernelCombine, InvertsDispatchWithWeights) {
  HostTensor x = randomTensor({4, 3}, 34);
  HostTensor indices = indexTensor({4, 2}, {1, 0, 2, 1, 0, 2, 1, 2});
  HostTensor weights = randomTensor({4, 2}, 35);
  HostTensor permuted(DType::F32, {8, 3}), counts(DType::I32, {3}), positions(DType::I32, {4, 2});
  HostTensor combined(DType::F32, {4, 3});
  KernelAttrs attrs;
  attrs.setInt("num_experts", 3);
  DS_EXPECT_KERNEL_OK(
      runKernel("dispatch", {&x, &indices}, {&permuted, &counts, &positions}, attrs));
  DS_EXPECT_KERNEL_OK(runKernel("combine", {&permuted, &positions, &weights}, {&combined}));
  for (int t = 0; t < 4; ++t)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(combined.at(t * 3 + j),
                  (weights.at(t * 2) + weights.at(t * 2 + 1)) * double(x.at(t * 3 + j)), 1e-6);
}

TEST(KernelGroupedLinear, MatchesNaiveWithEmptyExperts) {
  const int64_t experts = 4, rows = 6, out = 5, in = 3;
  std::vector<int32_t> countValues = {2, 0, 3, 1};
  HostTensor x = randomTensor({rows, in}, 36), w = randomTensor({experts, out, in}, 37);
  HostTensor counts = indexTensor({experts}, countValues), y(DType::F32, {rows, out});
  DS_EXPECT_KERNEL_OK(runKernel("grouped_linear", {&x, &w, &counts}, {&y}));
  std::vector<double> expected;
  int64_t expert = 0, seen = 0;
  for (int64_t r = 0; r < rows; ++r) {
    while (seen + countValues[expert] <= r)
      seen += countValues[expert++];
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0;
      for (int64_t i = 0; i < in; ++i)
        sum += double(x.at(r * in + i)) * w.at((expert * out + o) * in + i);
      expected.push_back(sum);
    }
  }
  expectClose(y.floats(), expected, 1e-6, 1e-5);
}

TEST(KernelGroupedLinear, NoRowsAtAll) {
  HostTensor x(DType::F32, {0, 3}), w = randomTensor({2, 4, 3}, 38);
  HostTensor counts = indexTensor({2}, {0, 0}), y(DType::F32, {0, 4});
  DS_EXPECT_KERNEL_OK(runKernel("grouped_linear", {&x, &w, &counts}, {&y}));
}

TEST(KernelBiasUpdate, MovesTowardTheMeanLoad) {
  HostTensor bias = floatTensor({4}, {0.1f, -0.2f, 0.3f, 0.0f});
  HostTensor counts = indexTensor({4}, {5, 1, 3, 3}); // mean 3
  HostTensor updated(DType::F32, {4});
  KernelAttrs attrs;
  attrs.setFloat("gamma", 0.001);
  DS_EXPECT_KERNEL_OK(runKernel("bias_update", {&bias, &counts}, {&updated}, attrs));
  // Overloaded expert 0 goes down, underloaded expert 1 up, balanced ones stay.
  expectClose(updated.floats(), std::vector<float>{0.099f, -0.199f, 0.3f, 0.0f}, 1e-7, 0);
}

} // namespace
