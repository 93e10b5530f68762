//===- Router.cu - ds.router ----------------------------------------------===//
//
// DeepSeekMoE routing with the CPU reference's rules (cpu/Router.cpp): scores by sigmoid
// or softmax, selection on s + bias, group-limited (a group scores its top-2 sum or max;
// topk_group groups stay), top_k experts ranked by descending biased score with ties to
// the lower index, weights s / (sum s + 1e-20) when norm_topk_prob, times routed_scale.
//
// One warp per token: a token's E scores (E <= a few hundred) sit in the warp's slice of
// shared memory, every ranking step is a warp argmax, and a chosen group or expert is
// marked NaN so that later rounds pass over it (NaN compares false with everything). The
// work is E·(topk_group + top_k) comparisons per token, far below the logits' read.
// The CPU rejects non-finite logits; here that needs a host sync, so they are not checked.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <string>

namespace ds::rt::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr float kNormEpsilon = 1e-20f;

struct RouterConfig {
  int64_t tokens, experts, topK, groups, groupsKept;
  bool softmax, topTwoGroupScore, normTopkProb;
  float routedScale;
};

/// True when (a, ia) ranks before (b, ib): higher score, then lower index. A NaN (taken)
/// candidate never ranks before anything; index -1 is "no candidate yet".
__device__ __forceinline__ bool ranksBefore(float a, int ia, float b, int ib) {
  if (ia < 0 || isnan(a))
    return false;
  if (ib < 0 || isnan(b))
    return true;
  return a > b || (a == b && ia < ib);
}

/// The best of values[0, count) over the warp; every lane gets the index.
__device__ int warpArgBest(const float *values, int count) {
  int lane = threadIdx.x & 31;
  float best = NAN;
  int bestIndex = -1;
  for (int i = lane; i < count; i += 32)
    if (ranksBefore(values[i], i, best, bestIndex)) {
      best = values[i];
      bestIndex = i;
    }
  for (int offset = 16; offset > 0; offset >>= 1) {
    float other = __shfl_xor_sync(kFullMask, best, offset);
    int otherIndex = __shfl_xor_sync(kFullMask, bestIndex, offset);
    if (ranksBefore(other, otherIndex, best, bestIndex)) {
      best = other;
      bestIndex = otherIndex;
    }
  }
  // Shuffles do not order memory: callers overwrite values[bestIndex] next, so every
  // lane's reads above must be complete first (compute-sanitizer racecheck flags it).
  __syncwarp();
  return bestIndex;
}

__global__ void routerKernel(FloatIn logits, FloatIn bias, int32_t *indices, FloatOut weights,
                             RouterConfig c) {
  extern __shared__ float shared[];
  int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  int experts = int(c.experts);
  float *scores = shared + warp * (3 * experts);
  float *biased = scores + experts;
  float *groupScore = biased + experts;
  int64_t token = int64_t(blockIdx.x) * kWarpsPerBlock + warp;
  if (token >= c.tokens)
    return;
  const int64_t row = token * c.experts;

  if (c.softmax) {
    float maxLogit = -INFINITY;
    for (int e = lane; e < experts; e += 32)
      maxLogit = fmaxf(maxLogit, logits[row + e]);
    maxLogit = warpMax(maxLogit);
    float sum = 0.0f;
    for (int e = lane; e < experts; e += 32) {
      scores[e] = expf(logits[row + e] - maxLogit);
      sum += scores[e];
    }
    float inverse = 1.0f / warpSum(sum);
    for (int e = lane; e < experts; e += 32)
      scores[e] *= inverse;
  } else {
    for (int e = lane; e < experts; e += 32)
      scores[e] = 1.0f / (1.0f + expf(-logits[row + e]));
  }
  for (int e = lane; e < experts; e += 32)
    biased[e] = scores[e] + bias[e];
  __syncwarp();

  int groups = int(c.groups), groupSize = experts / groups;
  for (int g = lane; g < groups; g += 32) {
    float best = -INFINITY, second = -INFINITY;
    for (int i = 0; i < groupSize; ++i) {
      float v = biased[g * groupSize + i];
      if (v > best) {
        second = best;
        best = v;
      } else if (v > second) {
        second = v;
      }
    }
    groupScore[g] = c.topTwoGroupScore ? best + second : best;
  }
  __syncwarp();
  for (int kept = 0; kept < c.groupsKept; ++kept) {
    int g = warpArgBest(groupScore, groups);
    if (lane == 0)
      groupScore[g] = NAN; // kept groups end up NaN, the others keep their score
    __syncwarp();
  }
  for (int e = lane; e < experts; e += 32)
    if (!isnan(groupScore[e / groupSize]))
      biased[e] = NAN; // experts of dropped groups are never candidates
  __syncwarp();

  float chosenSum = 0.0f;
  for (int slot = 0; slot < c.topK; ++slot) {
    int e = warpArgBest(biased, experts);
    chosenSum += scores[e];
    if (lane == 0) {
      indices[token * c.topK + slot] = e;
      biased[e] = NAN;
    }
    __syncwarp();
  }
  float factor = c.routedScale;
  if (c.normTopkProb)
    factor /= chosenSum + kNormEpsilon;
  for (int slot = lane; slot < c.topK; slot += 32)
    weights.store(token * c.topK + slot, scores[indices[token * c.topK + slot]] * factor);
}

} // namespace

Status router(KernelCall &call) {
  const char *k = "router";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"logits", Elem::Float}, {"bias", Elem::Float}},
                               {{"indices", Elem::Index}, {"weights", Elem::Float}}));
  const TensorView &logits = call.inputs[0];
  RouterConfig c;
  DS_RETURN_IF_ERROR(expectMatrix(k, "logits", logits, "[T, E]", c.tokens, c.experts));
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
  c.routedScale = float(routedScale);
  if (scoreFunc != "sigmoid" && scoreFunc != "softmax")
    return errorf(k, ": score_func '", scoreFunc, "' is not 'sigmoid' or 'softmax'");
  c.softmax = scoreFunc == "softmax";
  if (groupScore != "top2_sum" && groupScore != "max")
    return errorf(k, ": group_score '", groupScore, "' is not 'top2_sum' or 'max'");
  c.topTwoGroupScore = groupScore == "top2_sum";
  if (c.groups < 1 || c.experts % c.groups != 0)
    return errorf(k, ": n_group ", c.groups, " does not divide the ", c.experts, " experts");
  int64_t groupSize = c.experts / c.groups;
  if (c.groupsKept < 1 || c.groupsKept > c.groups)
    return errorf(k, ": topk_group ", c.groupsKept, " is outside [1, n_group = ", c.groups, "]");
  if (c.topTwoGroupScore && groupSize < 2)
    return errorf(k, ": group_score top2_sum needs at least 2 experts per group, got ",
                  groupSize);
  if (c.topK < 1 || c.topK > c.groupsKept * groupSize)
    return errorf(k, ": top_k ", c.topK, " is outside [1, ", c.groupsKept * groupSize,
                  "] (the experts of topk_group groups)");
  // Three E-float arrays per warp must fit the default 48 KB of shared memory.
  constexpr int64_t kMaxExperts = 1024;
  if (c.experts > kMaxExperts)
    return errorf(k, ": ", c.experts, " experts exceed the CUDA router's limit of ",
                  kMaxExperts);
  DS_RETURN_IF_ERROR(expectShape(k, "bias", call.inputs[1], {c.experts}));
  DS_RETURN_IF_ERROR(expectShape(k, "indices", call.outputs[0], {c.tokens, c.topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "weights", call.outputs[1], {c.tokens, c.topK}));
  if (c.tokens == 0)
    return Status::ok();
  size_t sharedBytes = size_t(kWarpsPerBlock) * 3 * c.experts * sizeof(float);
  routerKernel<<<ceilDiv(c.tokens, kWarpsPerBlock), kWarpsPerBlock * 32, sharedBytes,
                 streamOf(call)>>>(floatIn(logits), floatIn(call.inputs[1]),
                                   call.outputs[0].as<int32_t>(), floatOut(call.outputs[1]), c);
  return launchCheck(k, "routerKernel");
}

} // namespace ds::rt::cuda
