//===- DsOps.td - ops of the ds graph dialect --------------*- tablegen -*-===//
//
// Conventions shared by every op below:
//  * Activations are [batch, seq, ...] or, inside an MoE layer, [tokens, ...].
//  * Linear weights are [out, in]: ds.linear computes y = x * W^T over the last dim.
//  * Routed experts of one layer are one stacked tensor [E, ...].
//  * Every op prints as `ds.op operands attr-dict : functional-type`.
//  * Shapes are static (the memory planner lays out every buffer at compile time).
//    Operands combined by an op share one element type; results take the element type
//    of the op's primary floating-point operand. The exceptions are stated at the op
//    (ds.moe's FP32 router gate, ds.adamw's moments).
//  * Where the result types follow from the operands and attributes, the op infers
//    them (InferTypeOpAdaptor), so C++ builders may leave them out.
//  * Backward ops are named <forward>_grad (or _dgrad/_wgrad for the two GEMMs of a
//    linear layer, which FP8 casting treats separately).
//
//===----------------------------------------------------------------------===//

#ifndef DS_OPS_TD
#define DS_OPS_TD

include "dialects/ds/DsDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

def Ds_FloatTensor : RankedTensorOf<[AnyFloat]>;
def Ds_IndexTensor : RankedTensorOf<[I32]>;
def Ds_Scalar : 0DTensorOf<[F32]>;
def Ds_Fp8Tensor : RankedTensorOf<[F8E4M3FN]>;

class Ds_SimpleOp<string mnemonic, list<Trait> traits = []>
    : Ds_Op<mnemonic, !listconcat([Pure], traits)> {
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

// RoPE attributes shared by ds.rope, ds.rope_grad and ds.mla. YaRN (V3 report §4.3;
// HF `rope_scaling` type "yarn") is active when yarn_factor > 1.
defvar Ds_RopeAttrs = (ins
  F64Attr:$theta,
  DefaultValuedAttr<BoolAttr, "false">:$interleaved,
  DefaultValuedAttr<F64Attr, "1.0">:$yarn_factor,
  DefaultValuedAttr<I64Attr, "0">:$yarn_original_max_position,
  DefaultValuedAttr<F64Attr, "32.0">:$yarn_beta_fast,
  DefaultValuedAttr<F64Attr, "1.0">:$yarn_beta_slow,
  DefaultValuedAttr<F64Attr, "1.0">:$yarn_attention_factor);

//===----------------------------------------------------------------------===//
// Composite ops (decomposed by ds-decompose)
//===----------------------------------------------------------------------===//

def Ds_MlaOp : Ds_Op<"mla", [Pure, AttrSizedOperandSegments, InferTypeOpAdaptor]> {
  let summary = "Multi-head Latent Attention (DeepSeek-V2 report §2.1)";
  let description = [{
    x: [B, S, D]. With q compression (q_lora_rank > 0): q_a_weight [q_lora, D],
    q_a_norm [q_lora], q_b_weight [H*(nope+rope), q_lora]. Without: q_b_weight is W_q
    [H*(nope+rope), D] and q_a_weight / q_a_norm are absent. kv_a_weight
    [kv_lora + rope, D], kv_a_norm [kv_lora], kv_b_weight [H*(nope+v), kv_lora],
    o_weight [D, H*v]. Result [B, S, D]. Causal attention with softmax_scale.
  }];
  let arguments = !con((ins
    Ds_FloatTensor:$x,
    Optional<Ds_FloatTensor>:$q_a_weight,
    Optional<Ds_FloatTensor>:$q_a_norm,
    Ds_FloatTensor:$q_b_weight,
    Ds_FloatTensor:$kv_a_weight,
    Ds_FloatTensor:$kv_a_norm,
    Ds_FloatTensor:$kv_b_weight,
    Ds_FloatTensor:$o_weight,
    I64Attr:$num_heads,
    I64Attr:$q_lora_rank,
    I64Attr:$kv_lora_rank,
    I64Attr:$qk_nope_head_dim,
    I64Attr:$qk_rope_head_dim,
    I64Attr:$v_head_dim,
    F64Attr:$softmax_scale,
    F64Attr:$rms_norm_eps), Ds_RopeAttrs);
  let results = (outs Ds_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Ds_MoeOp : Ds_Op<"moe", [Pure, AttrSizedOperandSegments, InferTypeOpAdaptor]> {
  let summary = "DeepSeekMoE layer: router, routed experts, shared experts";
  let description = [{
    x: [B, S, D]; gate_weight [E, D] (kept in FP32); score_bias [E] (the
    e_score_correction_bias, used for selection only); experts_gate_up [E, 2*I, D] (gate rows
    first, then up rows); experts_down [E, D, I]; optional shared_gate_up [2*Is, D] and
    shared_down [D, Is] (Is = n_shared_experts * I). Results: y [B, S, D] (the FFN output,
    without the residual) and expert_counts [E] (tokens routed to each expert in this step).
    When balance_alpha > 0 a third result holds the sequence-wise balance loss (V3 §2.1.2).
    An optional `placement` attribute records the expert placement chosen by
    ds-expert-placement.
  }];
  let arguments = (ins
    Ds_FloatTensor:$x,
    Ds_FloatTensor:$gate_weight,
    Ds_FloatTensor:$score_bias,
    Ds_FloatTensor:$experts_gate_up,
    Ds_FloatTensor:$experts_down,
    Optional<Ds_FloatTensor>:$shared_gate_up,
    Optional<Ds_FloatTensor>:$shared_down,
    I64Attr:$top_k,
    I64Attr:$n_group,
    I64Attr:$topk_group,
    StrAttr:$score_func,
    StrAttr:$group_score,
    BoolAttr:$norm_topk_prob,
    F64Attr:$routed_scale,
    DefaultValuedAttr<F64Attr, "0.0">:$balance_alpha,
    OptionalAttr<DictionaryAttr>:$placement);
  let results = (outs Ds_FloatTensor:$result, Ds_IndexTensor:$expert_counts,
                     Optional<Ds_Scalar>:$balance_loss);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Ds_MtpHeadOp : Ds_SimpleOp<"mtp_head", [InferTypeOpAdaptor]> {
  let summary = "multi-token prediction input projection (V3 report §2.2, eq. 21)";
  let description = [{
    h' = proj * [RMSNorm(hidden; hidden_norm); RMSNorm(next_embedding; embed_norm)].
    hidden, next_embedding: [B, S, D]; hidden_norm, embed_norm: [D]; proj: [D, 2D].
    loss_weight is the lambda that weighs this depth's loss against the main loss.
  }];
  let arguments = (ins Ds_FloatTensor:$hidden, Ds_FloatTensor:$next_embedding,
                   Ds_FloatTensor:$hidden_norm, Ds_FloatTensor:$embed_norm,
                   Ds_FloatTensor:$proj, I64Attr:$depth, F64Attr:$rms_norm_eps,
                   F64Attr:$loss_weight);
  let results = (outs Ds_FloatTensor:$result);
}

//===----------------------------------------------------------------------===//
// Primitives
//===----------------------------------------------------------------------===//

def Ds_EmbeddingOp : Ds_SimpleOp<"embedding", [InferTypeOpAdaptor]> {
  let summary = "row gather: result[..., :] = table[ids[...], :]";
  let description = "ids [...] i32, table [V, D] -> [..., D]. Ids outside [0, V) are an error at run time.";
  let arguments = (ins Ds_IndexTensor:$ids, Ds_FloatTensor:$table);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_RmsNormOp : Ds_SimpleOp<"rms_norm", [InferTypeOpAdaptor]> {
  let summary = "root-mean-square normalization over the last dimension";
  let description = "y = x / sqrt(mean(x^2) + eps) * weight; x [..., D], weight [D].";
  let arguments = (ins Ds_FloatTensor:$input, Ds_FloatTensor:$weight, F64Attr:$eps);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_LinearOp : Ds_SimpleOp<"linear", [InferTypeOpAdaptor]> {
  let summary = "y = x * W^T over the last dimension";
  let description = "input [..., K], weight [N, K] -> [..., N].";
  let arguments = (ins Ds_FloatTensor:$input, Ds_FloatTensor:$weight);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_RopeOp : Ds_SimpleOp<"rope", [InferTypeOpAdaptor]> {
  let summary = "rotary position embedding of x [B, S, H, Dr] at positions 0..S-1";
  let description = [{
    Rotates pairs of the last dimension by angle pos * inv_freq[i], inv_freq[i] =
    theta^(-2i/Dr) (YaRN-corrected when yarn_factor > 1), then multiplies by
    yarn_attention_factor. interleaved = true pairs (2i, 2i+1) (DeepSeek's own layout);
    false pairs (i, i + Dr/2) (HF's rotate_half layout).
  }];
  let arguments = !con((ins Ds_FloatTensor:$input), Ds_RopeAttrs);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_AttentionOp : Ds_SimpleOp<"attention", [InferTypeOpAdaptor]> {
  let summary = "causal scaled-dot-product attention; q/k head dim may differ from v's";
  let description = "q, k [B, S, H, Dqk], v [B, S, H, Dv] -> [B, S, H, Dv]; softmax(q k^T * scale) v.";
  let arguments = (ins Ds_FloatTensor:$query, Ds_FloatTensor:$key, Ds_FloatTensor:$value,
                   F64Attr:$scale, DefaultValuedAttr<BoolAttr, "true">:$causal);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_RouterOp : Ds_SimpleOp<"router", [InferTypeOpAdaptor]> {
  let summary = "expert selection: scores, bias-corrected group-limited top-k, weights";
  let description = [{
    logits [T, E] (x * gate^T, FP32), bias [E] -> indices [T, K] i32, weights [T, K] f32.
    s = sigmoid(logits) or softmax(logits) (score_func). Selection uses s + bias: experts are
    split into n_group groups, a group scores the sum of its top-2 biased scores
    (group_score = "top2_sum", V3) or its max ("max", V2); the topk_group best groups stay
    and the top_k experts among them are chosen, ordered by descending biased score.
    Weights use s alone: w = s / sum(selected s) when norm_topk_prob, times routed_scale.
  }];
  let arguments = (ins Ds_FloatTensor:$logits, Ds_FloatTensor:$bias, I64Attr:$top_k,
                   I64Attr:$n_group, I64Attr:$topk_group, StrAttr:$score_func,
                   StrAttr:$group_score, BoolAttr:$norm_topk_prob, F64Attr:$routed_scale);
  let results = (outs Ds_IndexTensor:$indices, Ds_FloatTensor:$weights);
}

def Ds_BalanceLossOp : Ds_SimpleOp<"balance_loss", [InferTypeOpAdaptor]> {
  let summary = "sequence-wise auxiliary balance loss (V3 report §2.1.2, eq. 17-20)";
  let description = [{
    logits [T, E], indices [T, K] -> scalar. Tokens form num_sequences sequences of T /
    num_sequences tokens; per sequence alpha * sum_i f_i P_i, f_i = E / (K * Ts) * count_i,
    P_i = mean_t s_i / sum_j s_j; the result is the mean over sequences.
  }];
  let arguments = (ins Ds_FloatTensor:$logits, Ds_IndexTensor:$indices, F64Attr:$alpha,
                   I64Attr:$num_sequences, StrAttr:$score_func);
  let results = (outs Ds_Scalar:$result);
}

def Ds_DispatchOp : Ds_SimpleOp<"dispatch", [InferTypeOpAdaptor]> {
  let summary = "permute tokens so that each expert's rows are contiguous";
  let description = [{
    x [T, D], indices [T, K] -> permuted [T*K, D], counts [E] i32, positions [T, K] i32.
    Rows are ordered by expert, and within an expert by (token, slot): a stable sort.
    permuted[positions[t, k]] = x[t]; counts[e] = rows routed to expert e.
  }];
  let arguments = (ins Ds_FloatTensor:$input, Ds_IndexTensor:$indices, I64Attr:$num_experts);
  let results = (outs Ds_FloatTensor:$permuted, Ds_IndexTensor:$counts,
                      Ds_IndexTensor:$positions);
}

def Ds_CombineOp : Ds_SimpleOp<"combine", [InferTypeOpAdaptor]> {
  let summary = "weighted un-permute: result[t] = sum_k weights[t,k] * input[positions[t,k]]";
  let description = [{
    input [T*K, D] (the expert outputs in ds.dispatch's order), positions [T, K] i32,
    weights [T, K] -> [T, D].
  }];
  let arguments = (ins Ds_FloatTensor:$input, Ds_IndexTensor:$positions,
                   Ds_FloatTensor:$weights);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_GroupedLinearOp : Ds_SimpleOp<"grouped_linear", [InferTypeOpAdaptor]> {
  let summary = "one matmul per expert over contiguous row groups";
  let description = [{
    input [N, K], weight [E, Nout, K], counts [E] i32 -> [N, Nout]. Rows
    [sum(counts[:e]), sum(counts[:e+1])) are multiplied by weight[e]^T.
  }];
  let arguments = (ins Ds_FloatTensor:$input, Ds_FloatTensor:$weight, Ds_IndexTensor:$counts);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_SwigluOp : Ds_SimpleOp<"swiglu", [InferTypeOpAdaptor]> {
  let summary = "silu(gate) * up, gate and up the two halves of the last dimension";
  let description = "gate_up [..., 2I] (gate first) -> [..., I].";
  let arguments = (ins Ds_FloatTensor:$gate_up);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_AddOp : Ds_SimpleOp<"add", [Commutative, InferTypeOpAdaptor]> {
  let summary = "elementwise sum of two tensors of one type";
  let arguments = (ins Ds_FloatTensor:$lhs, Ds_FloatTensor:$rhs);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_MulOp : Ds_SimpleOp<"mul", [Commutative, InferTypeOpAdaptor]> {
  let summary = "elementwise product of two tensors of one type";
  let arguments = (ins Ds_FloatTensor:$lhs, Ds_FloatTensor:$rhs);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_ScaleOp : Ds_SimpleOp<"scale", [InferTypeOpAdaptor]> {
  let summary = "multiply by a constant factor";
  let arguments = (ins Ds_FloatTensor:$input, F64Attr:$factor);
  let results = (outs Ds_FloatTensor:$result);
  let hasFolder = 1;
}

def Ds_ConvertOp : Ds_SimpleOp<"convert"> {
  let summary = "change the element type (f32 <-> bf16), round to nearest even";
  let description = "Same shape; both element types are f32 or bf16 (FP8 goes through ds.quantize).";
  let arguments = (ins Ds_FloatTensor:$input);
  let results = (outs Ds_FloatTensor:$result);
  let hasFolder = 1;
}

def Ds_CrossEntropyOp : Ds_SimpleOp<"cross_entropy", [InferTypeOpAdaptor]> {
  let summary = "mean next-token cross-entropy over labels != ignore_index";
  let description = "logits [..., V], labels [...] i32 -> f32 scalar (0 when no label counts).";
  let arguments = (ins Ds_FloatTensor:$logits, Ds_IndexTensor:$labels,
                   DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs Ds_Scalar:$result);
}

def Ds_QuantizeOp : Ds_SimpleOp<"quantize", [InferTypeOpAdaptor]> {
  let summary = "FP8 E4M3 quantization with one FP32 scale per block";
  let description = [{
    input [..., M, K] -> values [..., M, K] f8E4M3FN, scales [..., ceil(M/bm), ceil(K/bk)] f32,
    block = [bm, bk] over the last two dims (e.g. [1, 128] for activations, [128, 128] for
    weights). scale = amax(block) / 448; values = round_to_nearest_even(x / scale), saturated.
  }];
  let arguments = (ins Ds_FloatTensor:$input, DenseI64ArrayAttr:$block);
  let results = (outs Ds_Fp8Tensor:$values, Ds_FloatTensor:$scales);
}

def Ds_DequantizeOp : Ds_SimpleOp<"dequantize"> {
  let summary = "inverse of ds.quantize: values * scale of their block";
  let arguments = (ins Ds_Fp8Tensor:$values, Ds_FloatTensor:$scales, DenseI64ArrayAttr:$block);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_SliceOp : Ds_SimpleOp<"slice", [InferTypeOpAdaptor]> {
  let summary = "the range [offset, offset + size) of one dimension";
  let description = "0 <= dim < rank, size > 0, offset + size <= the size of dimension dim.";
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$dim, I64Attr:$offset, I64Attr:$size);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
}

def Ds_ConcatOp : Ds_SimpleOp<"concat", [InferTypeOpAdaptor]> {
  let summary = "concatenation along one dimension";
  let description = "One or more inputs of one rank and element type, equal except along dim.";
  let arguments = (ins Variadic<Ds_FloatTensor>:$inputs, I64Attr:$dim);
  let results = (outs Ds_FloatTensor:$result);
}

def Ds_ReshapeOp : Ds_SimpleOp<"reshape"> {
  let summary = "reinterpret the row-major data with another static shape";
  let description = "Same element type and element count.";
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let hasFolder = 1;
}

def Ds_ExpandOp : Ds_SimpleOp<"expand"> {
  let summary = "broadcast dimensions of size 1 to the result's sizes";
  let description = "Same rank and element type; each input dimension is 1 or the result's.";
  let arguments = (ins Ds_FloatTensor:$input);
  let results = (outs Ds_FloatTensor:$result);
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Backward ops (emitted by ds-autodiff)
//===----------------------------------------------------------------------===//

def Ds_EmbeddingGradOp : Ds_SimpleOp<"embedding_grad"> {
  let summary = "scatter-add of output gradients into the table rows: [V, D]";
  let description = "ids [...] i32, result_grad [..., D] -> table_grad [V, D].";
  let arguments = (ins Ds_IndexTensor:$ids, Ds_FloatTensor:$result_grad);
  let results = (outs Ds_FloatTensor:$table_grad);
}

def Ds_RmsNormGradOp : Ds_SimpleOp<"rms_norm_grad", [InferTypeOpAdaptor]> {
  let summary = "gradients of ds.rms_norm with respect to input and weight";
  let arguments = (ins Ds_FloatTensor:$input, Ds_FloatTensor:$weight,
                   Ds_FloatTensor:$result_grad, F64Attr:$eps);
  let results = (outs Ds_FloatTensor:$input_grad, Ds_FloatTensor:$weight_grad);
}

def Ds_LinearDgradOp : Ds_SimpleOp<"linear_dgrad", [InferTypeOpAdaptor]> {
  let summary = "input gradient of ds.linear: dx = dy * W ([..., N], [N, K] -> [..., K])";
  let arguments = (ins Ds_FloatTensor:$result_grad, Ds_FloatTensor:$weight);
  let results = (outs Ds_FloatTensor:$input_grad);
}

def Ds_LinearWgradOp : Ds_SimpleOp<"linear_wgrad", [InferTypeOpAdaptor]> {
  let summary = "weight gradient of ds.linear: dW = dy^T * x summed over all rows: [N, K]";
  let arguments = (ins Ds_FloatTensor:$result_grad, Ds_FloatTensor:$input);
  let results = (outs Ds_FloatTensor:$weight_grad);
}

def Ds_RopeGradOp : Ds_SimpleOp<"rope_grad", [InferTypeOpAdaptor]> {
  let summary = "gradient of ds.rope: the transposed rotation";
  let arguments = !con((ins Ds_FloatTensor:$result_grad), Ds_RopeAttrs);
  let results = (outs Ds_FloatTensor:$input_grad);
}

def Ds_AttentionGradOp : Ds_SimpleOp<"attention_grad", [InferTypeOpAdaptor]> {
  let summary = "gradients of ds.attention with respect to q, k and v";
  let arguments = (ins Ds_FloatTensor:$query, Ds_FloatTensor:$key, Ds_FloatTensor:$value,
                   Ds_FloatTensor:$result, Ds_FloatTensor:$result_grad, F64Attr:$scale,
                   DefaultValuedAttr<BoolAttr, "true">:$causal);
  let results = (outs Ds_FloatTensor:$query_grad, Ds_FloatTensor:$key_grad,
                      Ds_FloatTensor:$value_grad);
}

def Ds_RouterGradOp : Ds_SimpleOp<"router_grad", [InferTypeOpAdaptor]> {
  let summary = "gradient of the router weights with respect to the logits";
  let description = "The selection (indices) is piecewise constant and carries no gradient.";
  let arguments = (ins Ds_FloatTensor:$logits, Ds_IndexTensor:$indices,
                   Ds_FloatTensor:$weights_grad, StrAttr:$score_func,
                   BoolAttr:$norm_topk_prob, F64Attr:$routed_scale);
  let results = (outs Ds_FloatTensor:$logits_grad);
}

def Ds_BalanceLossGradOp : Ds_SimpleOp<"balance_loss_grad", [InferTypeOpAdaptor]> {
  let summary = "gradient of ds.balance_loss with respect to the logits (f_i is constant)";
  let arguments = (ins Ds_FloatTensor:$logits, Ds_IndexTensor:$indices, Ds_Scalar:$result_grad,
                   F64Attr:$alpha, I64Attr:$num_sequences, StrAttr:$score_func);
  let results = (outs Ds_FloatTensor:$logits_grad);
}

def Ds_DispatchGradOp : Ds_SimpleOp<"dispatch_grad", [InferTypeOpAdaptor]> {
  let summary = "dx[t] = sum_k dpermuted[positions[t, k]]";
  let arguments = (ins Ds_FloatTensor:$permuted_grad, Ds_IndexTensor:$positions);
  let results = (outs Ds_FloatTensor:$input_grad);
}

def Ds_CombineGradOp : Ds_SimpleOp<"combine_grad", [InferTypeOpAdaptor]> {
  let summary = "gradients of ds.combine with respect to its input rows and its weights";
  let arguments = (ins Ds_FloatTensor:$result_grad, Ds_FloatTensor:$input,
                   Ds_IndexTensor:$positions, Ds_FloatTensor:$weights);
  let results = (outs Ds_FloatTensor:$input_grad, Ds_FloatTensor:$weights_grad);
}

def Ds_GroupedLinearDgradOp : Ds_SimpleOp<"grouped_linear_dgrad", [InferTypeOpAdaptor]> {
  let summary = "input gradient of ds.grouped_linear: [N, Nout] x [E, Nout, K] -> [N, K]";
  let arguments = (ins Ds_FloatTensor:$result_grad, Ds_FloatTensor:$weight,
                   Ds_IndexTensor:$counts);
  let results = (outs Ds_FloatTensor:$input_grad);
}

def Ds_GroupedLinearWgradOp : Ds_SimpleOp<"grouped_linear_wgrad", [InferTypeOpAdaptor]> {
  let summary = "weight gradient of ds.grouped_linear: per expert dy^T x -> [E, Nout, K]";
  let arguments = (ins Ds_FloatTensor:$result_grad, Ds_FloatTensor:$input,
                   Ds_IndexTensor:$counts);
  let results = (outs Ds_FloatTensor:$weight_grad);
}

def Ds_SwigluGradOp : Ds_SimpleOp<"swiglu_grad", [InferTypeOpAdaptor]> {
  let summary = "gradient of ds.swiglu with respect to gate_up";
  let arguments = (ins Ds_FloatTensor:$gate_up, Ds_FloatTensor:$result_grad);
  let results = (outs Ds_FloatTensor:$gate_up_grad);
}

def Ds_CrossEntropyGradOp : Ds_SimpleOp<"cross_entropy_grad", [InferTypeOpAdaptor]> {
  let summary = "gradient of ds.cross_entropy: (softmax - onehot) * dloss / count";
  let arguments = (ins Ds_FloatTensor:$logits, Ds_IndexTensor:$labels, Ds_Scalar:$result_grad,
                   DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs Ds_FloatTensor:$logits_grad);
}

def Ds_SliceGradOp : Ds_SimpleOp<"slice_grad"> {
  let summary = "place the gradient of a slice at its offset in a zero tensor of the input's shape";
  let description = [{
    input_grad has result_grad's shape except along dim, where it is the sliced input's
    size (at least offset + the size of result_grad there).
  }];
  let arguments = (ins Ds_FloatTensor:$result_grad, I64Attr:$dim, I64Attr:$offset);
  let results = (outs Ds_FloatTensor:$input_grad);
}

def Ds_ExpandGradOp : Ds_SimpleOp<"expand_grad"> {
  let summary = "sum the gradient over the dimensions ds.expand broadcast";
  let description = "Same rank; each input_grad dimension is 1 or result_grad's.";
  let arguments = (ins Ds_FloatTensor:$result_grad);
  let results = (outs Ds_FloatTensor:$input_grad);
}

//===----------------------------------------------------------------------===//
// Optimizer and training-step ops
//===----------------------------------------------------------------------===//

def Ds_GradNormOp : Ds_SimpleOp<"grad_norm", [InferTypeOpAdaptor]> {
  let summary = "global L2 norm of all gradients";
  let description = "One or more gradients of any shape -> f32 scalar.";
  let arguments = (ins Variadic<Ds_FloatTensor>:$grads);
  let results = (outs Ds_Scalar:$result);
}

def Ds_AdamwOp : Ds_SimpleOp<"adamw", [InferTypeOpAdaptor]> {
  let summary = "AdamW update of one parameter with global-norm gradient clipping";
  let description = [{
    g' = g * min(1, max_grad_norm / (grad_norm + 1e-6)) (no clipping when max_grad_norm <= 0);
    m' = b1 m + (1-b1) g'; v' = b2 v + (1-b2) g'^2; with bias corrections at `step` (1-based),
    p' = p - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p).
    grad, exp_avg and exp_avg_sq have param's shape; the moments may be kept in a lower
    precision than the FP32 master weight (BF16 in V3, report §3.3.3), and each new_*
    result has its operand's type.
  }];
  let arguments = (ins Ds_FloatTensor:$param, Ds_FloatTensor:$grad, Ds_FloatTensor:$exp_avg,
                   Ds_FloatTensor:$exp_avg_sq, Ds_Scalar:$lr, Ds_Scalar:$step,
                   Ds_Scalar:$grad_norm, F64Attr:$beta1, F64Attr:$beta2, F64Attr:$epsilon,
                   F64Attr:$weight_decay, F64Attr:$max_grad_norm);
  let results = (outs Ds_FloatTensor:$new_param, Ds_FloatTensor:$new_exp_avg,
                      Ds_FloatTensor:$new_exp_avg_sq);
}

def Ds_BiasUpdateOp : Ds_SimpleOp<"bias_update", [InferTypeOpAdaptor]> {
  let summary = "auxiliary-loss-free balancing: b_i += gamma * sign(mean_load - load_i)";
  let arguments = (ins Ds_FloatTensor:$bias, Ds_IndexTensor:$counts, F64Attr:$gamma);
  let results = (outs Ds_FloatTensor:$new_bias);
}

#endif // DS_OPS_TD
