//===- ModelSpec.cpp - derived quantities of a model spec -----------------===//
#include "frontend/ModelSpec.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace ds;

double ds::yarnMscale(double factor, double m) {
  // DeepSeek-V2 report appendix B: sqrt(1/t) = 0.1 ln(s) + 1, with the per-model
  // multiplier m on the log term (HF `yarn_get_mscale`).
  if (factor <= 1.0)
    return 1.0;
  return 0.1 * m * std::log(factor) + 1.0;
}

double ModelSpec::softmaxScale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(qkHeadDim()));
  if (yarn && yarn->mscaleAllDim != 0.0) {
    double m = yarnMscale(yarn->factor, yarn->mscaleAllDim);
    scale *= m * m;
  }
  return scale;
}

double ModelSpec::ropeAttentionFactor() const {
  if (!yarn)
    return 1.0;
  return yarnMscale(yarn->factor, yarn->mscale) / yarnMscale(yarn->factor, yarn->mscaleAllDim);
}

llvm::StringRef ModelSpec::scoreFuncName() const {
  return scoringFunc == ScoreFunc::Sigmoid ? "sigmoid" : "softmax";
}

llvm::StringRef ModelSpec::groupScoreName() const {
  return topkMethod == TopkMethod::NoauxTc ? "top2_sum" : "max";
}

llvm::StringRef ModelSpec::topkMethodName() const {
  switch (topkMethod) {
  case TopkMethod::Greedy:
    return "greedy";
  case TopkMethod::GroupLimitedGreedy:
    return "group_limited_greedy";
  case TopkMethod::NoauxTc:
    return "noaux_tc";
  }
  return "greedy";
}

double ModelSpec::effectiveRoutedScale() const {
  if (modelType == "deepseek_v2" && effectiveNormTopkProb())
    return 1.0;
  return routedScalingFactor;
}

std::string ds::modelSpecToJson(const ModelSpec &spec) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream json(os);
  json.object([&] {
    json.attribute("model_type", spec.modelType);
    json.attribute("vocab_size", spec.vocabSize);
    json.attribute("hidden_size", spec.hiddenSize);
    json.attribute("intermediate_size", spec.intermediateSize);
    json.attribute("moe_intermediate_size", spec.moeIntermediateSize);
    json.attribute("num_hidden_layers", spec.numHiddenLayers);
    json.attribute("first_k_dense_replace", spec.firstKDenseReplace);
    json.attribute("num_attention_heads", spec.numAttentionHeads);
    json.attribute("n_routed_experts", spec.nRoutedExperts);
    json.attribute("n_shared_experts", spec.nSharedExperts);
    json.attribute("num_experts_per_tok", spec.numExpertsPerTok);
    json.attribute("n_group", spec.nGroup);
    json.attribute("topk_group", spec.topkGroup);
    json.attribute("routed_scaling_factor", spec.routedScalingFactor);
    json.attribute("norm_topk_prob", spec.normTopkProb);
    json.attribute("scoring_func", spec.scoreFuncName());
    json.attribute("topk_method", spec.topkMethodName());
    if (spec.qLoraRank > 0)
      json.attribute("q_lora_rank", spec.qLoraRank);
    else
      json.attribute("q_lora_rank", nullptr);
    json.attribute("kv_lora_rank", spec.kvLoraRank);
    json.attribute("qk_nope_head_dim", spec.qkNopeHeadDim);
    json.attribute("qk_rope_head_dim", spec.qkRopeHeadDim);
    json.attribute("v_head_dim", spec.vHeadDim);
    json.attribute("rope_theta", spec.ropeTheta);
    json.attribute("rope_interleave", spec.ropeInterleave);
    if (spec.yarn) {
      json.attributeObject("rope_scaling", [&] {
        json.attribute("type", "yarn");
        json.attribute("factor", spec.yarn->factor);
        json.attribute("original_max_position_embeddings", spec.yarn->originalMaxPosition);
        json.attribute("beta_fast", spec.yarn->betaFast);
        json.attribute("beta_slow", spec.yarn->betaSlow);
        json.attribute("mscale", spec.yarn->mscale);
        json.attribute("mscale_all_dim", spec.yarn->mscaleAllDim);
      });
    } else {
      json.attribute("rope_scaling", nullptr);
    }
    json.attribute("max_position_embeddings", spec.maxPositionEmbeddings);
    json.attribute("num_nextn_predict_layers", spec.numNextnPredictLayers);
    json.attribute("tie_word_embeddings", spec.tieWordEmbeddings);
    json.attribute("rms_norm_eps", spec.rmsNormEps);
    json.attribute("initializer_range", spec.initializerRange);
    // The training options under the keys the parser reads them from, so that the
    // normalized text parses back to the same spec.
    json.attribute("aux_loss_alpha", spec.balanceAlpha);
    json.attribute("seq_aux", true);
    json.attribute("mtp_loss_weight", spec.mtpLambda);
  });
  return text;
}
