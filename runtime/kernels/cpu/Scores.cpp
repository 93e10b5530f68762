#include "runtime/kernels/cpu/Scores.h"

#include <algorithm>
#include <cmath>

namespace ds::rt::cpu {

Status parseScoreFunc(const char *kernel, const std::string &name, ScoreFunc &func) {
  if (name == "sigmoid")
    func = ScoreFunc::Sigmoid;
  else if (name == "softmax")
    func = ScoreFunc::Softmax;
  else
    return errorf(kernel, ": score_func '", name, "' is not 'sigmoid' or 'softmax'");
  return Status::ok();
}

void computeScores(ScoreFunc func, const float *logits, int64_t experts, float *scores) {
  if (func == ScoreFunc::Sigmoid) {
    for (int64_t e = 0; e < experts; ++e)
      scores[e] = 1.0f / (1.0f + std::exp(-logits[e]));
    return;
  }
  float maxLogit = -INFINITY;
  for (int64_t e = 0; e < experts; ++e)
    maxLogit = std::max(maxLogit, logits[e]);
  double sum = 0.0;
  for (int64_t e = 0; e < experts; ++e) {
    scores[e] = std::exp(logits[e] - maxLogit);
    sum += scores[e];
  }
  float inverse = static_cast<float>(1.0 / sum);
  for (int64_t e = 0; e < experts; ++e)
    scores[e] *= inverse;
}

void scoresBackward(ScoreFunc func, const float *scores, const float *scoreGrad, int64_t experts,
                    float *logitGrad) {
  if (func == ScoreFunc::Sigmoid) {
    for (int64_t e = 0; e < experts; ++e)
      logitGrad[e] = scoreGrad[e] * scores[e] * (1.0f - scores[e]);
    return;
  }
  // Softmax Jacobian: ds_e/dl_j = s_e (delta_ej - s_j).
  double dot = 0.0;
  for (int64_t e = 0; e < experts; ++e)
    dot += static_cast<double>(scoreGrad[e]) * scores[e];
  float dotF = static_cast<float>(dot);
  for (int64_t e = 0; e < experts; ++e)
    logitGrad[e] = scores[e] * (scoreGrad[e] - dotF);
}

} // namespace ds::rt::cpu
