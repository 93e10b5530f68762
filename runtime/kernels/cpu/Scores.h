//===- Scores.h - router affinity scores and their backward ---------------===//
//
// The MoE gate turns a token's logits over the E routed experts into affinity scores:
// sigmoid per expert (V3 report §2.1.2, eq. 15) or softmax over all experts (V2).
// Shared by ds.router, ds.router_grad, ds.balance_loss and ds.balance_loss_grad.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CPU_SCORES_H
#define DS_RUNTIME_KERNELS_CPU_SCORES_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <string>

namespace ds::rt::cpu {

enum class ScoreFunc : uint8_t { Sigmoid, Softmax };

/// Parses the score_func attribute ("sigmoid" or "softmax").
Status parseScoreFunc(const char *kernel, const std::string &name, ScoreFunc &func);

/// Scores of one token: scores[e] from logits[e], e < experts.
void computeScores(ScoreFunc func, const float *logits, int64_t experts, float *scores);

/// Chain rule through computeScores for one token: logitGrad from scoreGrad, given the
/// scores it produced.
void scoresBackward(ScoreFunc func, const float *scores, const float *scoreGrad, int64_t experts,
                    float *logitGrad);

} // namespace ds::rt::cpu

#endif
