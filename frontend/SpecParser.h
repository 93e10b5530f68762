//===- SpecParser.h - model spec files to ds::ModelSpec -------------------===//
//
// Two formats are read:
//  * HF `config.json`, model_type "deepseek_v3" or "deepseek_v2". Keys that shape a
//    tensor or the layer structure are required (vocab_size, hidden_size,
//    intermediate_size, moe_intermediate_size, num_hidden_layers, first_k_dense_replace,
//    num_attention_heads, n_routed_experts, n_shared_experts, num_experts_per_tok,
//    q_lora_rank (null = no query compression), kv_lora_rank, qk_nope_head_dim,
//    qk_rope_head_dim, v_head_dim; n_group and topk_group unless topk_method is greedy).
//    The others default as HF's config classes do for that model_type: v3 routes with
//    sigmoid/noaux_tc/norm_topk_prob true/routed_scaling_factor 2.5, v2 with
//    softmax/greedy/false/1.0; rope_theta 10000, no rope scaling, rope_interleave true,
//    rms_norm_eps 1e-6, initializer_range 0.02, num_nextn_predict_layers 0, untied.
//    `rope_parameters` (transformers v5) takes precedence over `rope_scaling`/`rope_theta`.
//  * DeepSeek's inference config (`inference/configs/config_671B.json`: dim, n_layers,
//    ...), recognized by having `dim` and no `model_type`. Its routing keys default as
//    `inference/model.py`'s ModelArgs does. Sigmoid scoring maps to deepseek_v3
//    (noaux_tc, normalized weights), softmax to deepseek_v2.
// ds's own training keys: `aux_loss_alpha` (with `seq_aux`, default true) sets the
// sequence-wise balance loss weight (default 0, off); `mtp_loss_weight` sets the MTP
// loss weight lambda (default 0.3).
// Keys outside this list (architectures, torch_dtype, quantization_config, ...) are
// ignored; keys that would change the architecture in a way ds does not build
// (hidden_act other than silu, attention_bias, moe_layer_freq != 1, grouped KV heads)
// are errors.
//
//===----------------------------------------------------------------------===//
#ifndef DS_FRONTEND_SPECPARSER_H
#define DS_FRONTEND_SPECPARSER_H

#include "frontend/ModelSpec.h"

#include "llvm/Support/Error.h"

namespace ds {

/// Parses and validates a spec from JSON text; messages start with `sourceName: `.
llvm::Expected<ModelSpec> parseModelSpec(llvm::StringRef jsonText, llvm::StringRef sourceName);

/// Reads `path` and parses it as above.
llvm::Expected<ModelSpec> loadModelSpec(llvm::StringRef path);

} // namespace ds

#endif
