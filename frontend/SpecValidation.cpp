//===- SpecValidation.cpp - the rules a model spec must satisfy -----------===//
#include "frontend/SpecValidation.h"

#include "frontend/SpecJson.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace ds;
using llvm::StringRef;
using llvm::Twine;

SpecKeyNames SpecKeyNames::deepSeekInference() {
  SpecKeyNames names;
  names.hiddenSize = "dim";
  names.intermediateSize = "inter_dim";
  names.moeIntermediateSize = "moe_inter_dim";
  names.numHiddenLayers = "n_layers";
  names.firstKDenseReplace = "n_dense_layers";
  names.numAttentionHeads = "n_heads";
  names.numExpertsPerTok = "n_activated_experts";
  names.nGroup = "n_expert_groups";
  names.topkGroup = "n_limited_groups";
  names.routedScalingFactor = "route_scale";
  names.yarnFactor = "rope_factor";
  names.yarnOriginalMaxPosition = "original_seq_len";
  names.yarnBetaFast = "beta_fast";
  names.yarnBetaSlow = "beta_slow";
  names.yarnMscale = "mscale";
  names.yarnMscaleAllDim = "mscale";
  return names;
}

SpecKeyNames SpecKeyNames::hfRopeParameters() {
  SpecKeyNames names;
  names.ropeTheta = "rope_parameters.rope_theta";
  names.yarnFactor = "rope_parameters.factor";
  names.yarnOriginalMaxPosition = "rope_parameters.original_max_position_embeddings";
  names.yarnBetaFast = "rope_parameters.beta_fast";
  names.yarnBetaSlow = "rope_parameters.beta_slow";
  names.yarnMscale = "rope_parameters.mscale";
  names.yarnMscaleAllDim = "rope_parameters.mscale_all_dim";
  return names;
}

namespace {

// Token ids are i32 tensors and every tensor dimension is an int64 in MLIR; no
// DeepSeek dimension comes near 2^31, so a larger one is a typo, not a model.
constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

/// Collects the first broken rule; each check is one line at the call site.
class Rules {
public:
  void require(bool ok, const Twine &message) {
    if (!ok && !firstError)
      firstError = message.str();
  }
  void positive(StringRef key, int64_t value) {
    require(value > 0, "`" + key + "` (" + Twine(value) + ") must be positive");
    require(value <= kMaxDim,
            "`" + key + "` (" + Twine(value) + ") must be at most " + Twine(kMaxDim));
  }
  void nonNegative(StringRef key, int64_t value) {
    require(value >= 0, "`" + key + "` (" + Twine(value) + ") must not be negative");
    require(value <= kMaxDim,
            "`" + key + "` (" + Twine(value) + ") must be at most " + Twine(kMaxDim));
  }
  void positiveReal(StringRef key, double value) {
    require(std::isfinite(value) && value > 0,
            "`" + key + "` (" + formatNumber(value) + ") must be a positive finite number");
  }
  void nonNegativeReal(StringRef key, double value) {
    require(std::isfinite(value) && value >= 0,
            "`" + key + "` (" + formatNumber(value) + ") must be a non-negative finite number");
  }
  /// The element count of a parameter tensor must fit an int64 (the report sums them).
  void representable(std::initializer_list<int64_t> dims, const Twine &what) {
    int64_t product = 1;
    for (int64_t dim : dims) {
      if (dim <= 0)
        return;
      if (llvm::MulOverflow(product, dim, product)) {
        require(false, "the model is too large: " + what + " would hold more than 2^63 elements");
        return;
      }
    }
  }
  llvm::Error take() { return firstError ? specError(*firstError) : llvm::Error::success(); }

private:
  std::optional<std::string> firstError;
};

void checkAttention(Rules &rules, const ModelSpec &spec, const SpecKeyNames &names) {
  rules.positive(names.numAttentionHeads, spec.numAttentionHeads);
  rules.nonNegative(names.qLoraRank, spec.qLoraRank);
  rules.positive(names.kvLoraRank, spec.kvLoraRank);
  rules.positive(names.qkNopeHeadDim, spec.qkNopeHeadDim);
  rules.positive(names.qkRopeHeadDim, spec.qkRopeHeadDim);
  rules.positive(names.vHeadDim, spec.vHeadDim);
  // RoPE rotates pairs of channels (V2 report §2.1.3).
  rules.require(spec.qkRopeHeadDim % 2 == 0, "`" + names.qkRopeHeadDim + "` (" +
                                                 Twine(spec.qkRopeHeadDim) +
                                                 ") must be even: RoPE rotates pairs of channels");
  rules.representable({spec.numAttentionHeads, spec.qkHeadDim(),
                       spec.qLoraRank > 0 ? spec.qLoraRank : spec.hiddenSize},
                      "the query projection");
  rules.representable({spec.numAttentionHeads, spec.qkNopeHeadDim + spec.vHeadDim, spec.kvLoraRank},
                      "`kv_b_proj`");
  rules.representable({spec.hiddenSize, spec.numAttentionHeads, spec.vHeadDim}, "`o_proj`");
}

void checkMoe(Rules &rules, const ModelSpec &spec, const SpecKeyNames &names) {
  rules.positive(names.moeIntermediateSize, spec.moeIntermediateSize);
  rules.positive(names.nRoutedExperts, spec.nRoutedExperts);
  rules.nonNegative(names.nSharedExperts, spec.nSharedExperts);
  rules.positive(names.numExpertsPerTok, spec.numExpertsPerTok);
  rules.positive(names.nGroup, spec.nGroup);
  rules.positive(names.topkGroup, spec.topkGroup);
  rules.positiveReal(names.routedScalingFactor, spec.routedScalingFactor);
  if (spec.nRoutedExperts <= 0 || spec.nGroup <= 0 || spec.topkGroup <= 0 ||
      spec.numExpertsPerTok <= 0)
    return;
  rules.require(spec.numExpertsPerTok <= spec.nRoutedExperts,
                "`" + names.numExpertsPerTok + "` (" + Twine(spec.numExpertsPerTok) +
                    ") must be at most `" + names.nRoutedExperts + "` (" +
                    Twine(spec.nRoutedExperts) + ")");
  // Group-limited routing splits the experts into equal groups (V3 report §2.1.2).
  rules.require(spec.nRoutedExperts % spec.nGroup == 0,
                "`" + names.nRoutedExperts + "` (" + Twine(spec.nRoutedExperts) +
                    ") must be divisible by `" + names.nGroup + "` (" + Twine(spec.nGroup) + ")");
  rules.require(spec.topkGroup <= spec.nGroup, "`" + names.topkGroup + "` (" +
                                                   Twine(spec.topkGroup) + ") must be at most `" +
                                                   names.nGroup + "` (" + Twine(spec.nGroup) + ")");
  int64_t perGroup = spec.nRoutedExperts / spec.nGroup;
  int64_t reachable = std::min(spec.topkGroup, spec.nGroup) * perGroup;
  rules.require(spec.numExpertsPerTok <= reachable,
                "`" + names.numExpertsPerTok + "` (" + Twine(spec.numExpertsPerTok) +
                    ") exceeds the experts in the chosen groups: `" + names.topkGroup + "` (" +
                    Twine(spec.topkGroup) + ") groups of " + Twine(perGroup) +
                    " experts hold only " + Twine(reachable));
  if (spec.topkMethod == TopkMethod::NoauxTc && spec.nGroup > 1)
    rules.require(perGroup >= 2, "topk_method noaux_tc scores a group by its top-2 experts: `" +
                                     names.nRoutedExperts + "` / `" + names.nGroup + "` (" +
                                     Twine(perGroup) + ") must be at least 2");
  rules.representable({spec.nRoutedExperts, 2 * spec.moeIntermediateSize, spec.hiddenSize},
                      "the stacked experts");
}

void checkRope(Rules &rules, const ModelSpec &spec, const SpecKeyNames &names) {
  rules.positiveReal(names.ropeTheta, spec.ropeTheta);
  if (!spec.yarn)
    return;
  const YarnSpec &yarn = *spec.yarn;
  rules.require(std::isfinite(yarn.factor) && yarn.factor >= 1.0,
                "`" + names.yarnFactor + "` (" + formatNumber(yarn.factor) +
                    ") must be at least 1 (YaRN only extends the context)");
  rules.positive(names.yarnOriginalMaxPosition, yarn.originalMaxPosition);
  rules.require(yarn.betaFast > yarn.betaSlow, "`" + names.yarnBetaFast + "` (" +
                                                   formatNumber(yarn.betaFast) +
                                                   ") must be greater than `" + names.yarnBetaSlow +
                                                   "` (" + formatNumber(yarn.betaSlow) + ")");
  rules.nonNegativeReal(names.yarnMscale, yarn.mscale);
  rules.nonNegativeReal(names.yarnMscaleAllDim, yarn.mscaleAllDim);
}

} // namespace

llvm::Error ds::validateModelSpec(const ModelSpec &spec, const SpecKeyNames &names) {
  Rules rules;
  rules.positive(names.vocabSize, spec.vocabSize);
  rules.positive(names.hiddenSize, spec.hiddenSize);
  rules.positive(names.numHiddenLayers, spec.numHiddenLayers);
  rules.nonNegative(names.firstKDenseReplace, spec.firstKDenseReplace);
  rules.require(spec.firstKDenseReplace <= spec.numHiddenLayers,
                "`" + names.firstKDenseReplace + "` (" + Twine(spec.firstKDenseReplace) +
                    ") must be at most `" + names.numHiddenLayers + "` (" +
                    Twine(spec.numHiddenLayers) + ")");
  if (spec.firstKDenseReplace > 0)
    rules.positive(names.intermediateSize, spec.intermediateSize);
  rules.nonNegative(names.numNextnPredictLayers, spec.numNextnPredictLayers);
  rules.representable({spec.vocabSize, spec.hiddenSize}, "the embedding table");
  rules.representable({2 * spec.intermediateSize, spec.hiddenSize}, "the dense FFN");
  checkAttention(rules, spec, names);
  // MTP blocks sit at layer indices >= num_hidden_layers, so they are MoE blocks.
  if (spec.hasMoe() || spec.numNextnPredictLayers > 0)
    checkMoe(rules, spec, names);
  checkRope(rules, spec, names);
  rules.positiveReal(names.rmsNormEps, spec.rmsNormEps);
  rules.positiveReal(names.initializerRange, spec.initializerRange);
  rules.nonNegativeReal(names.balanceAlpha, spec.balanceAlpha);
  rules.nonNegativeReal(names.mtpLambda, spec.mtpLambda);
  return rules.take();
}
