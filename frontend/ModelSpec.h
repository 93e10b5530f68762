//===- ModelSpec.h - the normalized description of a DeepSeek model -------===//
//
// One struct for every spec format ds reads (HF `config.json` of model_type deepseek_v3
// or deepseek_v2, and DeepSeek's own inference config). The parser fills it, the
// validator checks it, the builder reads only this struct, never the JSON.
//
//===----------------------------------------------------------------------===//
#ifndef DS_FRONTEND_MODELSPEC_H
#define DS_FRONTEND_MODELSPEC_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace ds {

/// How the router turns the gate logits into scores (HF `scoring_func`).
enum class ScoreFunc { Softmax, Sigmoid };

/// How experts are chosen (HF `topk_method`):
///  * Greedy: plain top-k over all experts (V2-Lite); no groups.
///  * GroupLimitedGreedy: V2 (report §2.2.3): a group scores its best expert ("max").
///  * NoauxTc: V3 (report §2.1.2): selection on bias-corrected scores, a group scores the
///    sum of its two best ("top2_sum"); the bias is `e_score_correction_bias`.
enum class TopkMethod { Greedy, GroupLimitedGreedy, NoauxTc };

/// YaRN context extension (HF `rope_scaling`/`rope_parameters` of type "yarn"; V3
/// report §4.3, DeepSeek-V2 report appendix B). Active when factor > 1.
struct YarnSpec {
  double factor = 1.0;
  int64_t originalMaxPosition = 0;
  double betaFast = 32.0;
  double betaSlow = 1.0;
  /// Scales the RoPE cos/sin (with mscaleAllDim, see ropeAttentionFactor()).
  double mscale = 1.0;
  /// Scales the softmax: s *= (0.1 * mscaleAllDim * ln(factor) + 1)^2; 0 disables it,
  /// as in HF's `rope_scaling.get("mscale_all_dim", 0)`.
  double mscaleAllDim = 0.0;
};

struct ModelSpec {
  /// "deepseek_v3" or "deepseek_v2"; the DeepSeek inference format maps to the one its
  /// router matches (sigmoid: v3, softmax: v2).
  std::string modelType;

  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  /// Dense FFN width of the first `firstKDenseReplace` layers.
  int64_t intermediateSize = 0;
  /// Width of one routed (and one shared) expert.
  int64_t moeIntermediateSize = 0;
  int64_t numHiddenLayers = 0;
  int64_t firstKDenseReplace = 0;
  int64_t numAttentionHeads = 0;

  int64_t nRoutedExperts = 0;
  int64_t nSharedExperts = 0;
  int64_t numExpertsPerTok = 0;
  /// Already normalized: greedy routing has nGroup = topkGroup = 1.
  int64_t nGroup = 1;
  int64_t topkGroup = 1;
  double routedScalingFactor = 1.0;
  bool normTopkProb = false;
  ScoreFunc scoringFunc = ScoreFunc::Softmax;
  TopkMethod topkMethod = TopkMethod::Greedy;

  /// 0 means no query compression (HF null, DeepSeek 0): q = W_q x.
  int64_t qLoraRank = 0;
  int64_t kvLoraRank = 0;
  int64_t qkNopeHeadDim = 0;
  int64_t qkRopeHeadDim = 0;
  int64_t vHeadDim = 0;

  double ropeTheta = 10000.0;
  /// RoPE on interleaved pairs (2i, 2i+1), DeepSeek's weight layout; false is HF's
  /// rotate-half layout.
  bool ropeInterleave = true;
  std::optional<YarnSpec> yarn;
  int64_t maxPositionEmbeddings = 0;

  int64_t numNextnPredictLayers = 0;
  bool tieWordEmbeddings = false;
  double rmsNormEps = 1e-6;
  double initializerRange = 0.02;

  /// Training options. balanceAlpha: the sequence-wise balance loss weight (V3 report
  /// §2.1.2, eq. 17), 0 = off. mtpLambda: the MTP loss weight (V3 report §2.2, eq. 25).
  double balanceAlpha = 0.0;
  double mtpLambda = 0.3;

  int64_t qkHeadDim() const { return qkNopeHeadDim + qkRopeHeadDim; }
  bool hasMoe() const { return firstKDenseReplace < numHiddenLayers; }
  /// True for layer indices (main or MTP) that hold an MoE FFN.
  bool isMoeLayer(int64_t layer) const { return layer >= firstKDenseReplace; }

  /// Softmax scale of the attention: (qk_nope + qk_rope)^-1/2, times mscale^2 under
  /// YaRN (DeepSeek-V2 report appendix B; HF DeepseekV3Attention).
  double softmaxScale() const;
  /// The factor YaRN applies to RoPE's cos/sin: mscale(factor, mscale) /
  /// mscale(factor, mscaleAllDim), 1 without YaRN.
  double ropeAttentionFactor() const;
  /// Router vocabulary of ds.moe/ds.router.
  llvm::StringRef scoreFuncName() const;
  llvm::StringRef groupScoreName() const;
  llvm::StringRef topkMethodName() const;
  /// Both DeepSeek gates normalize the selected weights only when top_k > 1.
  bool effectiveNormTopkProb() const { return normTopkProb && numExpertsPerTok > 1; }
  /// The scale ds.router applies after (optional) normalization. V2's gate multiplies
  /// by routed_scaling_factor only when it does not normalize; V3's always does.
  double effectiveRoutedScale() const;
};

/// YaRN's magnitude correction: 0.1 * m * ln(factor) + 1 for factor > 1, else 1.
double yarnMscale(double factor, double m);

/// The normalized spec as a JSON object text (HF key names; stored in the module's
/// `ds.spec` attribute so that a plan can say which model it trains).
std::string modelSpecToJson(const ModelSpec &spec);

} // namespace ds

#endif
