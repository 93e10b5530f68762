//===- BalanceLoss.cpp - ds.balance_loss and ds.balance_loss_grad ---------===//
//
// Sequence-wise balance loss (V3 report §2.1.2, eq. 17-20): per sequence of Ts tokens,
//   L_seq = alpha * sum_i f_i P_i,  f_i = E / (K * Ts) * count_i,
//   P_i = 1/Ts * sum_t s'_{t,i},    s'_{t,i} = s_{t,i} / sum_j s_{t,j},
// count_i being how many of the sequence's top-K slots chose expert i. The result is the
// mean of L_seq over the sequences. f_i comes from the (piecewise constant) selection and
// carries no gradient; the gradient flows through P_i into the logits.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"
#include "runtime/kernels/cpu/Scores.h"

namespace ds::rt::cpu {
namespace {

struct BalanceConfig {
  int64_t tokens, experts, topK, sequences, seqLen;
  double alpha;
  ScoreFunc scoreFunc;
};

Status readConfig(const char *k, const KernelCall &call, BalanceConfig &c) {
  const TensorView &logits = call.inputs[0], &indices = call.inputs[1];
  if (logits.rank() != 2)
    return errorf(k, ": logits has shape ", logits.shapeString(), ", expected [T, E]");
  c.tokens = logits.dim(0);
  c.experts = logits.dim(1);
  if (indices.rank() != 2 || indices.dim(0) != c.tokens)
    return errorf(k, ": indices has shape ", indices.shapeString(), ", expected [", c.tokens,
                  ", K]");
  c.topK = indices.dim(1);
  std::string scoreFunc;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "alpha", c.alpha));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "num_sequences", c.sequences));
  DS_RETURN_IF_ERROR(requireString(call.attrs, k, "score_func", scoreFunc));
  DS_RETURN_IF_ERROR(parseScoreFunc(k, scoreFunc, c.scoreFunc));
  if (c.sequences < 1 || c.tokens % c.sequences != 0)
    return errorf(k, ": num_sequences ", c.sequences, " does not divide the ", c.tokens, " tokens");
  c.seqLen = c.tokens / c.sequences;
  if (c.topK < 1)
    return errorf(k, ": indices has no slots (K = 0)");
  const int32_t *idx = indices.as<const int32_t>();
  for (int64_t i = 0; i < c.tokens * c.topK; ++i)
    if (idx[i] < 0 || idx[i] >= c.experts)
      return errorf(k, ": indices[", i / c.topK, ", ", i % c.topK, "] = ", idx[i],
                    " is outside [0, ", c.experts, ")");
  return Status::ok();
}

/// f_i of sequence `seq`.
void loadFractions(const BalanceConfig &c, const int32_t *indices, int64_t seq,
                   std::vector<double> &fraction) {
  fraction.assign(c.experts, 0.0);
  const int32_t *slots = indices + seq * c.seqLen * c.topK;
  for (int64_t i = 0; i < c.seqLen * c.topK; ++i)
    fraction[slots[i]] += 1.0;
  double norm = static_cast<double>(c.experts) / (c.topK * c.seqLen);
  for (double &f : fraction)
    f *= norm;
}

} // namespace

Status balanceLoss(KernelCall &call) {
  const char *k = "balance_loss";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"logits", Elem::Float}, {"indices", Elem::Index}},
                               {{"result", Elem::Float}}));
  BalanceConfig c;
  DS_RETURN_IF_ERROR(readConfig(k, call, c));
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], 1));
  FloatReader logits(call.inputs[0]);
  const int32_t *indices = call.inputs[1].as<const int32_t>();
  std::vector<float> scores(c.experts);
  std::vector<double> fraction;
  double total = 0.0;
  for (int64_t seq = 0; seq < c.sequences; ++seq) {
    loadFractions(c, indices, seq, fraction);
    double sumFP = 0.0; // sum_i f_i * sum_t s'_{t,i}
    for (int64_t t = seq * c.seqLen; t < (seq + 1) * c.seqLen; ++t) {
      computeScores(c.scoreFunc, logits.data() + t * c.experts, c.experts, scores.data());
      double rowSum = 0.0;
      for (float s : scores)
        rowSum += s;
      for (int64_t e = 0; e < c.experts; ++e)
        sumFP += fraction[e] * scores[e] / rowSum;
    }
    total += c.alpha * sumFP / c.seqLen;
  }
  writeScalar(call.outputs[0], static_cast<float>(total / c.sequences));
  return Status::ok();
}

Status balanceLossGrad(KernelCall &call) {
  const char *k = "balance_loss_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"logits", Elem::Float}, {"indices", Elem::Index}, {"result_grad", Elem::Float}},
      {{"logits_grad", Elem::Float}}));
  BalanceConfig c;
  DS_RETURN_IF_ERROR(readConfig(k, call, c));
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[2], 1));
  DS_RETURN_IF_ERROR(expectShape(k, "logits_grad", call.outputs[0], call.inputs[0].shape));
  FloatReader logits(call.inputs[0]);
  const int32_t *indices = call.inputs[1].as<const int32_t>();
  double resultGrad = readScalar(call.inputs[2]);
  FloatWriter logitsGrad(call.outputs[0]);
  std::vector<float> scores(c.experts), scoreGrad(c.experts);
  std::vector<double> fraction;
  for (int64_t seq = 0; seq < c.sequences; ++seq) {
    loadFractions(c, indices, seq, fraction);
    // dL/ds'_{t,i} = dR * alpha * f_i / (num_sequences * Ts), the same for every token.
    double perToken = resultGrad * c.alpha / (static_cast<double>(c.sequences) * c.seqLen);
    for (int64_t t = seq * c.seqLen; t < (seq + 1) * c.seqLen; ++t) {
      computeScores(c.scoreFunc, logits.data() + t * c.experts, c.experts, scores.data());
      double rowSum = 0.0, dot = 0.0; // dot = sum_i g_i s'_i
      for (float s : scores)
        rowSum += s;
      for (int64_t e = 0; e < c.experts; ++e)
        dot += perToken * fraction[e] * scores[e] / rowSum;
      // Through s' = s / sum(s): ds_j = (g_j - sum_i g_i s'_i) / sum(s).
      for (int64_t e = 0; e < c.experts; ++e)
        scoreGrad[e] = static_cast<float>((perToken * fraction[e] - dot) / rowSum);
      scoresBackward(c.scoreFunc, scores.data(), scoreGrad.data(), c.experts,
                     logitsGrad.data() + t * c.experts);
    }
  }
  return Status::ok();
}

} // namespace ds::rt::cpu
