//===- Router.cpp - ds.router and ds.router_grad --------------------------===//
//
// DeepSeekMoE routing (V3 report §2.1.2, eq. 12-16; HF DeepseekV3 `noaux_tc`):
//  * s = sigmoid(logits) (V3) or softmax(logits) (V2).
//  * Selection ranks the biased scores s + bias; the bias (e_score_correction_bias)
//    steers which experts are chosen but never the weights.
//  * Group limit: E experts form n_group groups of E / n_group; a group scores the sum of
//    its two best biased scores ("top2_sum", V3) or its best ("max", V2); the topk_group
//    best groups stay, and top_k experts are chosen among their experts only (as in
//    DeepSeek's inference/model.py, which masks other groups with -inf; HF masks them with
//    0.0, which differs only when a kept expert's biased score is negative).
//  * Ranking is by descending score, ties to the lower index, for groups and experts,
//    which makes the choice deterministic and the output ordered.
//  * w = s[chosen] / (sum s[chosen] + 1e-20) when norm_topk_prob, then * routed_scale.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"
#include "runtime/kernels/cpu/Scores.h"

#include <algorithm>
#include <cmath>

namespace ds::rt::cpu {
namespace {

/// HF adds this to the denominator of norm_topk_prob.
constexpr float kNormEpsilon = 1e-20f;

struct RouterConfig {
  int64_t tokens, experts, topK, groups, groupsKept;
  ScoreFunc scoreFunc;
  bool topTwoGroupScore;
  bool normTopkProb;
  float routedScale;
};

Status readConfig(const char *k, const KernelCall &call, RouterConfig &c) {
  DS_RETURN_IF_ERROR(expectMatrix(k, "logits", call.inputs[0], "[T, E]", c.tokens, c.experts));
  std::string scoreFunc, groupScore;
  double routedScale;
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "top_k", c.topK));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "n_group", c.groups));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "topk_group", c.groupsKept));
  DS_RETURN_IF_ERROR(requireString(call.attrs, k, "score_func", scoreFunc));
  DS_RETURN_IF_ERROR(requireString(call.attrs, k, "group_score", groupScore));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "routed_scale", routedScale));
  if (!call.attrs.has("norm_topk_prob"))
    return errorf(k, ": missing boolean attribute 'norm_topk_prob'");
  c.normTopkProb = call.attrs.getBool("norm_topk_prob");
  c.routedScale = static_cast<float>(routedScale);
  DS_RETURN_IF_ERROR(parseScoreFunc(k, scoreFunc, c.scoreFunc));
  if (groupScore != "top2_sum" && groupScore != "max")
    return errorf(k, ": group_score '", groupScore, "' is not 'top2_sum' or 'max'");
  c.topTwoGroupScore = groupScore == "top2_sum";
  if (c.groups < 1 || c.experts % c.groups != 0)
    return errorf(k, ": n_group ", c.groups, " does not divide the ", c.experts, " experts");
  int64_t groupSize = c.experts / c.groups;
  if (c.groupsKept < 1 || c.groupsKept > c.groups)
    return errorf(k, ": topk_group ", c.groupsKept, " is outside [1, n_group = ", c.groups, "]");
  if (c.topTwoGroupScore && groupSize < 2)
    return errorf(k, ": group_score top2_sum needs at least 2 experts per group, got ", groupSize);
  if (c.topK < 1 || c.topK > c.groupsKept * groupSize)
    return errorf(k, ": top_k ", c.topK, " is outside [1, ", c.groupsKept * groupSize,
                  "] (the experts of topk_group groups)");
  return Status::ok();
}

/// True when candidate a ranks before b: higher score, then lower index.
bool ranksBefore(float scoreA, int64_t a, float scoreB, int64_t b) {
  return scoreA > scoreB || (scoreA == scoreB && a < b);
}

/// The chosen experts of one token, best first.
void selectExperts(const RouterConfig &c, const float *biased, int64_t *chosen) {
  int64_t groupSize = c.experts / c.groups;
  std::vector<float> groupScore(c.groups);
  for (int64_t g = 0; g < c.groups; ++g) {
    const float *member = biased + g * groupSize;
    float best = -INFINITY, second = -INFINITY;
    for (int64_t i = 0; i < groupSize; ++i) {
      if (member[i] > best) {
        second = best;
        best = member[i];
      } else if (member[i] > second) {
        second = member[i];
      }
    }
    groupScore[g] = c.topTwoGroupScore ? best + second : best;
  }
  std::vector<int64_t> groupOrder(c.groups);
  for (int64_t g = 0; g < c.groups; ++g)
    groupOrder[g] = g;
  std::partial_sort(
      groupOrder.begin(), groupOrder.begin() + c.groupsKept, groupOrder.end(),
      [&](int64_t a, int64_t b) { return ranksBefore(groupScore[a], a, groupScore[b], b); });
  std::vector<int64_t> candidates;
  for (int64_t kept = 0; kept < c.groupsKept; ++kept)
    for (int64_t i = 0; i < groupSize; ++i)
      candidates.push_back(groupOrder[kept] * groupSize + i);
  std::partial_sort(candidates.begin(), candidates.begin() + c.topK, candidates.end(),
                    [&](int64_t a, int64_t b) { return ranksBefore(biased[a], a, biased[b], b); });
  std::copy_n(candidates.begin(), c.topK, chosen);
}

} // namespace

Status router(KernelCall &call) {
  const char *k = "router";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"logits", Elem::Float}, {"bias", Elem::Float}},
                               {{"indices", Elem::Index}, {"weights", Elem::Float}}));
  RouterConfig c;
  DS_RETURN_IF_ERROR(readConfig(k, call, c));
  DS_RETURN_IF_ERROR(expectShape(k, "bias", call.inputs[1], {c.experts}));
  DS_RETURN_IF_ERROR(expectShape(k, "indices", call.outputs[0], {c.tokens, c.topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "weights", call.outputs[1], {c.tokens, c.topK}));
  FloatReader logits(call.inputs[0]), bias(call.inputs[1]);
  // Non-finite logits (a diverged run) would make the ranking meaningless.
  for (int64_t i = 0; i < c.tokens * c.experts; ++i)
    if (!std::isfinite(logits[i]))
      return errorf(k, ": logits[", i / c.experts, ", ", i % c.experts, "] = ", logits[i],
                    " is not finite");
  for (int64_t e = 0; e < c.experts; ++e)
    if (!std::isfinite(bias[e]))
      return errorf(k, ": bias[", e, "] = ", bias[e], " is not finite");
  int32_t *indices = call.outputs[0].as<int32_t>();
  FloatWriter weights(call.outputs[1]);
  std::vector<float> scores(c.experts), biased(c.experts);
  std::vector<int64_t> chosen(c.topK);
  for (int64_t t = 0; t < c.tokens; ++t) {
    computeScores(c.scoreFunc, logits.data() + t * c.experts, c.experts, scores.data());
    for (int64_t e = 0; e < c.experts; ++e)
      biased[e] = scores[e] + bias[e];
    selectExperts(c, biased.data(), chosen.data());
    double sum = 0.0;
    for (int64_t slot = 0; slot < c.topK; ++slot)
      sum += scores[chosen[slot]];
    float factor = c.routedScale;
    if (c.normTopkProb)
      factor /= static_cast<float>(sum) + kNormEpsilon;
    for (int64_t slot = 0; slot < c.topK; ++slot) {
      indices[t * c.topK + slot] = static_cast<int32_t>(chosen[slot]);
      weights[t * c.topK + slot] = scores[chosen[slot]] * factor;
    }
  }
  return Status::ok();
}

Status routerGrad(KernelCall &call) {
  const char *k = "router_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"logits", Elem::Float}, {"indices", Elem::Index}, {"weights_grad", Elem::Float}},
      {{"logits_grad", Elem::Float}}));
  const TensorView &logitsView = call.inputs[0];
  int64_t tokens, experts;
  DS_RETURN_IF_ERROR(expectMatrix(k, "logits", logitsView, "[T, E]", tokens, experts));
  const TensorView &indicesView = call.inputs[1];
  if (indicesView.rank() != 2 || indicesView.dim(0) != tokens)
    return errorf(k, ": indices has shape ", indicesView.shapeString(), ", expected [", tokens,
                  ", K]");
  int64_t topK = indicesView.dim(1);
  DS_RETURN_IF_ERROR(expectShape(k, "weights_grad", call.inputs[2], {tokens, topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "logits_grad", call.outputs[0], logitsView.shape));
  std::string scoreFuncName;
  double routedScale;
  ScoreFunc scoreFunc;
  DS_RETURN_IF_ERROR(requireString(call.attrs, k, "score_func", scoreFuncName));
  DS_RETURN_IF_ERROR(parseScoreFunc(k, scoreFuncName, scoreFunc));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "routed_scale", routedScale));
  if (!call.attrs.has("norm_topk_prob"))
    return errorf(k, ": missing boolean attribute 'norm_topk_prob'");
  bool normTopkProb = call.attrs.getBool("norm_topk_prob");
  const int32_t *indices = indicesView.as<const int32_t>();
  for (int64_t i = 0; i < tokens * topK; ++i)
    if (indices[i] < 0 || indices[i] >= experts)
      return errorf(k, ": indices[", i / topK, ", ", i % topK, "] = ", indices[i],
                    " is outside [0, ", experts, ")");
  FloatReader logits(logitsView), weightsGrad(call.inputs[2]);
  FloatWriter logitsGrad(call.outputs[0]);
  float scale = static_cast<float>(routedScale);
  std::vector<float> scores(experts), scoreGrad(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    computeScores(scoreFunc, logits.data() + t * experts, experts, scores.data());
    std::fill(scoreGrad.begin(), scoreGrad.end(), 0.0f);
    const int32_t *chosen = indices + t * topK;
    const float *dw = weightsGrad.data() + t * topK;
    if (normTopkProb) {
      // w_k = scale * s_k / Z with Z = sum_m s_m + 1e-20 over the chosen slots:
      // ds_j = scale * (dw_j / Z - sum_m dw_m s_m / Z^2) for every chosen j.
      double sum = 0.0, weighted = 0.0;
      for (int64_t slot = 0; slot < topK; ++slot) {
        sum += scores[chosen[slot]];
        weighted += static_cast<double>(dw[slot]) * scores[chosen[slot]];
      }
      double z = sum + kNormEpsilon;
      float shared = static_cast<float>(scale * weighted / (z * z));
      for (int64_t slot = 0; slot < topK; ++slot)
        scoreGrad[chosen[slot]] += static_cast<float>(scale * dw[slot] / z) - shared;
    } else {
      for (int64_t slot = 0; slot < topK; ++slot)
        scoreGrad[chosen[slot]] += scale * dw[slot];
    }
    scoresBackward(scoreFunc, scores.data(), scoreGrad.data(), experts,
                   logitsGrad.data() + t * experts);
  }
  return Status::ok();
}

} // namespace ds::rt::cpu
