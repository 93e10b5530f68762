//===- SpecValidation.h - the rules a model spec must satisfy -------------===//
#ifndef DS_FRONTEND_SPECVALIDATION_H
#define DS_FRONTEND_SPECVALIDATION_H

#include "frontend/ModelSpec.h"

#include "llvm/Support/Error.h"

namespace ds {

/// The key each field has in the format the user wrote, so that a message quotes the key
/// as it appears in the user's file. Defaults are HF `config.json` names.
struct SpecKeyNames {
  llvm::StringRef vocabSize = "vocab_size";
  llvm::StringRef hiddenSize = "hidden_size";
  llvm::StringRef intermediateSize = "intermediate_size";
  llvm::StringRef moeIntermediateSize = "moe_intermediate_size";
  llvm::StringRef numHiddenLayers = "num_hidden_layers";
  llvm::StringRef firstKDenseReplace = "first_k_dense_replace";
  llvm::StringRef numAttentionHeads = "num_attention_heads";
  llvm::StringRef nRoutedExperts = "n_routed_experts";
  llvm::StringRef nSharedExperts = "n_shared_experts";
  llvm::StringRef numExpertsPerTok = "num_experts_per_tok";
  llvm::StringRef nGroup = "n_group";
  llvm::StringRef topkGroup = "topk_group";
  llvm::StringRef routedScalingFactor = "routed_scaling_factor";
  llvm::StringRef qLoraRank = "q_lora_rank";
  llvm::StringRef kvLoraRank = "kv_lora_rank";
  llvm::StringRef qkNopeHeadDim = "qk_nope_head_dim";
  llvm::StringRef qkRopeHeadDim = "qk_rope_head_dim";
  llvm::StringRef vHeadDim = "v_head_dim";
  llvm::StringRef ropeTheta = "rope_theta";
  llvm::StringRef yarnFactor = "rope_scaling.factor";
  llvm::StringRef yarnOriginalMaxPosition = "rope_scaling.original_max_position_embeddings";
  llvm::StringRef yarnBetaFast = "rope_scaling.beta_fast";
  llvm::StringRef yarnBetaSlow = "rope_scaling.beta_slow";
  llvm::StringRef yarnMscale = "rope_scaling.mscale";
  llvm::StringRef yarnMscaleAllDim = "rope_scaling.mscale_all_dim";
  llvm::StringRef numNextnPredictLayers = "num_nextn_predict_layers";
  llvm::StringRef rmsNormEps = "rms_norm_eps";
  llvm::StringRef initializerRange = "initializer_range";
  llvm::StringRef balanceAlpha = "aux_loss_alpha";
  llvm::StringRef mtpLambda = "mtp_loss_weight";

  /// Names of DeepSeek's inference config (`inference/configs/*.json`).
  static SpecKeyNames deepSeekInference();
  /// HF names with the rope keys under `rope_parameters` (transformers v5).
  static SpecKeyNames hfRopeParameters();
};

/// Checks every rule of the spec: sizes positive, groups dividing experts, enough experts
/// in the chosen groups, layer counts consistent, tensor sizes representable. The message
/// names the key, its value and the rule broken.
llvm::Error validateModelSpec(const ModelSpec &spec, const SpecKeyNames &names = {});

} // namespace ds

#endif
