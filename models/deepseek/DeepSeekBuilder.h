//===- DeepSeekBuilder.h - the V2/V3 forward graph ------------------------===//
//
// Emits `func.func @forward` for a DeepSeek-V2/V3 spec, following
// docs/ir-conventions.md: composite ops for attention (ds.mla), the MoE FFN (ds.moe)
// and the MTP input projection (ds.mtp_head); primitives for the rest.
//
//   tokens[:, 0:S] -> ds.embedding -> per layer L:
//     ds.rms_norm (input_layernorm) -> ds.mla -> ds.add (residual)
//     ds.rms_norm (post_attention_layernorm) -> dense FFN | ds.moe -> ds.add (residual)
//   -> ds.rms_norm (model.norm) -> ds.linear (lm_head) -> ds.cross_entropy(tokens[:, 1:S+1])
//   MTP depth k = 1..M at layer index num_hidden_layers + k - 1 (as HF checkpoints number
//   it): ds.mtp_head(previous hidden state before the final norm, Emb(tokens[:, k:S+k]))
//   -> one MLA + MoE block -> shared_head.norm -> the shared lm_head -> cross_entropy
//   (tokens[:, k+1:S+k+1]) -> ds.scale by lambda. Embedding and head are shared with the
//   main model (V3 report §2.2), so the MTP layer has no copies of them.
//   loss = main + sum_k lambda * mtp_k + sum of the balance losses (ds.add).
//
// Names beyond HF's, fixed here:
//  * A dense FFN's gate and up projections are one parameter
//    `model.layers.L.mlp.gate_up` [2*intermediate, D] (rows 0..I-1 gate_proj, I..2I-1
//    up_proj, like the stacked experts), then `model.layers.L.mlp.down_proj.weight`
//    [D, I]; computed as ds.linear -> ds.swiglu -> ds.linear.
//  * V2 has no e_score_correction_bias; its ds.moe still takes a zeros `ds.buffer`
//    `model.layers.L.mlp.gate.e_score_correction_bias` [E] so that every MoE layer has
//    one operand list (the bias-update pass leaves V2's untouched: V2 trains with
//    balance losses, not bias updates).
//  * Buffers carry `ds.init` like parameters do (zeros for the bias).
//  * With BuildOptions::emitLogits the main head's logits [B, S, V] are one more result,
//    {ds.output = "logits"}, after the expert counts (evaluation and gradient plans).
//
//===----------------------------------------------------------------------===//
#ifndef DS_MODELS_DEEPSEEK_DEEPSEEKBUILDER_H
#define DS_MODELS_DEEPSEEK_DEEPSEEKBUILDER_H

#include "frontend/ModelSpec.h"
#include "models/BuildOptions.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/Support/Error.h"

namespace ds {

/// Builds the forward module of `spec`. Fails (with a message) on options that make no
/// graph (batch or seq < 1, tensors too large to index).
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildDeepSeekModel(mlir::MLIRContext &context, const ModelSpec &spec, const BuildOptions &options);

} // namespace ds

#endif
