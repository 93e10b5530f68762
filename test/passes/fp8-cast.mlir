// RUN: ds-opt %s --ds-decompose --ds-autodiff=keep-forward=false --ds-fp8-cast | FileCheck %s
// RUN: ds-opt %s --ds-decompose --ds-autodiff=keep-forward=false --ds-fp8-cast \
// RUN:   | FileCheck %s --check-prefix=GEMMS

// One V3-style layer (MLA with query compression, MoE without shared experts, the
// output head) through ds-decompose, ds-autodiff and ds-fp8-cast with the default V3
// recipe. B=2 S=4 D=16, 2 heads (nope 4, rope 2, v 4), 4 experts, top-2.
//
// FP8: the five MLA projections and the two expert GEMMs, each in Fprop, Dgrad and Wgrad
// (7 x 3 = 21 GEMMs). High precision: the router gate and the output head (all three
// GEMMs of each), the embedding, the norms, RoPE, attention and the optimizer.
// GEMMS-COUNT-21: {ds.fp8_promote_interval = 128 : i64}
// GEMMS-NOT: fp8_promote_interval

// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[EMB:arg[0-9]+]]: tensor<32x16xf32> {ds.param = "model.embed_tokens.weight"}
// CHECK-SAME: %[[QA:arg[0-9]+]]: tensor<8x16xf32> {ds.param = "model.layers.0.self_attn.q_a_proj.weight"}
// CHECK-SAME: %[[QB:arg[0-9]+]]: tensor<12x8xf32> {ds.param = "model.layers.0.self_attn.q_b_proj.weight"}
// CHECK-SAME: %[[O:arg[0-9]+]]: tensor<16x8xf32> {ds.param = "model.layers.0.self_attn.o_proj.weight"}
// CHECK-SAME: %[[GATE:arg[0-9]+]]: tensor<4x16xf32> {ds.param = "model.layers.0.mlp.gate.weight"}
// CHECK-SAME: %[[UP:arg[0-9]+]]: tensor<4x12x16xf32> {ds.param = "model.layers.0.mlp.experts.gate_up"}
// CHECK-SAME: %[[DOWN:arg[0-9]+]]: tensor<4x16x6xf32> {ds.param = "model.layers.0.mlp.experts.down"}
// CHECK-SAME: %[[HEAD:arg[0-9]+]]: tensor<32x16xf32> {ds.param = "lm_head.weight"}

// The embedding gathers from the FP32 table.
// CHECK: %[[X:.*]] = ds.embedding %arg0, %[[EMB]] :
// q_a_proj Fprop reduces over K = D: x in 1x128 tiles along K (one scale per token and
// 128 channels), the weight in 128x128 blocks.
// CHECK: %[[XV:.*]], %[[XS:.*]] = ds.quantize %[[X]] {block = array<i64: 1, 128>} : (tensor<2x4x16xf32>) -> (tensor<2x4x16xf8E4M3FN>, tensor<2x4x1xf32>)
// CHECK: %[[XQ:.*]] = ds.dequantize %[[XV]], %[[XS]] {block = array<i64: 1, 128>}
// CHECK: %[[QAV:.*]], %[[QAS:.*]] = ds.quantize %[[QA]] {block = array<i64: 128, 128>} : (tensor<8x16xf32>) -> (tensor<8x16xf8E4M3FN>, tensor<1x1xf32>)
// CHECK: %[[QAQ:.*]] = ds.dequantize %[[QAV]], %[[QAS]] {block = array<i64: 128, 128>}
// CHECK: ds.linear %[[XQ]], %[[QAQ]] {ds.fp8_promote_interval = 128 : i64} :
// The query norm reads the GEMM's FP32 result.
// CHECK: %[[CQ:.*]] = ds.rms_norm
// CHECK: ds.quantize %[[CQ]] {block = array<i64: 1, 128>}
// CHECK: %[[QBQ:.*]] = ds.dequantize %{{.*}}, %{{.*}} {block = array<i64: 128, 128>} : (tensor<12x8xf8E4M3FN>, tensor<1x1xf32>) -> tensor<12x8xf32>
// CHECK: ds.linear %{{.*}}, %[[QBQ]] {ds.fp8_promote_interval = 128 : i64}
// kv_a_proj reads the same x as q_a_proj: one quantization serves both.
// CHECK: ds.linear %[[XQ]], %{{.*}} {ds.fp8_promote_interval = 128 : i64} : (tensor<2x4x16xf32>, tensor<10x16xf32>)
// CHECK: ds.linear %{{.*}}, %{{.*}} {ds.fp8_promote_interval = 128 : i64} : (tensor<2x4x8xf32>, tensor<16x8xf32>)
// The attention core takes RoPE, slices and concats of FP32 results: nothing quantized.
// CHECK-NOT: ds.quantize
// CHECK: %[[ATTN:.*]] = ds.attention
// CHECK: %[[OIN:.*]] = ds.reshape %[[ATTN]]
// CHECK: ds.quantize %[[OIN]] {block = array<i64: 1, 128>}
// CHECK: %[[OIQ:.*]] = ds.dequantize {{.*}} -> tensor<2x4x8xf32>
// CHECK: ds.quantize %[[O]] {block = array<i64: 128, 128>}
// CHECK: %[[OQ:.*]] = ds.dequantize
// CHECK: ds.linear %[[OIQ]], %[[OQ]] {ds.fp8_promote_interval = 128 : i64}
// The router gate stays FP32: no quantization, no promotion attribute.
// CHECK-NOT: ds.quantize
// CHECK: ds.linear %{{.*}}, %[[GATE]] : (tensor<8x16xf32>, tensor<4x16xf32>) -> tensor<8x4xf32>
// CHECK: %[[PERM:permuted[_0-9]*]], %[[COUNTS:counts[_0-9]*]], %{{.*}} = ds.dispatch
// Routed experts: tokens in 1x128 tiles, each expert's weight in 128x128 blocks.
// CHECK: ds.quantize %[[PERM]] {block = array<i64: 1, 128>} : (tensor<16x16xf32>) -> (tensor<16x16xf8E4M3FN>, tensor<16x1xf32>)
// CHECK: %[[PERMQ:.*]] = ds.dequantize
// CHECK: ds.quantize %[[UP]] {block = array<i64: 128, 128>} : (tensor<4x12x16xf32>) -> (tensor<4x12x16xf8E4M3FN>, tensor<4x1x1xf32>)
// CHECK: %[[UPQ:.*]] = ds.dequantize
// CHECK: %[[GU:.*]] = ds.grouped_linear %[[PERMQ]], %[[UPQ]], %[[COUNTS]] {ds.fp8_promote_interval = 128 : i64}
// CHECK: %[[ACT:.*]] = ds.swiglu %[[GU]]
// CHECK: ds.quantize %[[ACT]] {block = array<i64: 1, 128>}
// CHECK: %[[ACTQ:.*]] = ds.dequantize
// CHECK: ds.quantize %[[DOWN]] {block = array<i64: 128, 128>}
// CHECK: %[[DOWNQ:.*]] = ds.dequantize
// CHECK: ds.grouped_linear %[[ACTQ]], %[[DOWNQ]], %[[COUNTS]] {ds.fp8_promote_interval = 128 : i64}
// The output head stays high precision in all three GEMMs; its Wgrad is recognised by
// the ds.adamw its gradient feeds.
// CHECK-NOT: ds.quantize
// CHECK: ds.linear %{{.*}}, %[[HEAD]] : (tensor<2x4x16xf32>, tensor<32x16xf32>)
// CHECK: ds.cross_entropy_grad
// CHECK-NOT: ds.quantize
// CHECK: ds.linear_dgrad %{{.*}}, %[[HEAD]] : (
// CHECK: ds.linear_wgrad %{{.*}}, %{{.*}} : (tensor<2x4x32xf32>, tensor<2x4x16xf32>) -> tensor<32x16xf32>
// Expert down-projection backward. Dgrad dx = dy W reduces over N: dy in 1x128 tiles
// along N, and the weight blocks the Fprop quantized are reused.
// CHECK: %[[DY:input_grad[_0-9]*]], %{{.*}} = ds.combine_grad
// CHECK: ds.quantize %[[DY]] {block = array<i64: 1, 128>}
// CHECK: %[[DYQ:.*]] = ds.dequantize
// CHECK: ds.grouped_linear_dgrad %[[DYQ]], %[[DOWNQ]], %[[COUNTS]] {ds.fp8_promote_interval = 128 : i64}
// Wgrad dW = dy^T x reduces over the tokens: both operands in 128x1 tiles (128 tokens of
// one channel). x is the FP8 activation the Fprop read, re-quantized into the new tiles.
// CHECK: ds.quantize %[[DY]] {block = array<i64: 128, 1>} : (tensor<16x16xf32>) -> (tensor<16x16xf8E4M3FN>, tensor<1x16xf32>)
// CHECK: %[[DYT:.*]] = ds.dequantize
// CHECK: ds.quantize %[[ACTQ]] {block = array<i64: 128, 1>} : (tensor<16x6xf32>) -> (tensor<16x6xf8E4M3FN>, tensor<1x6xf32>)
// CHECK: %[[ACTT:.*]] = ds.dequantize
// CHECK: ds.grouped_linear_wgrad %[[DYT]], %[[ACTT]], %[[COUNTS]] {ds.fp8_promote_interval = 128 : i64}
// CHECK: ds.grouped_linear_dgrad %{{.*}}, %[[UPQ]], %[[COUNTS]] {ds.fp8_promote_interval = 128 : i64}
// CHECK: ds.quantize %[[PERMQ]] {block = array<i64: 128, 1>}
// CHECK: ds.grouped_linear_wgrad {{.*}} {ds.fp8_promote_interval = 128 : i64}
// The gate's backward GEMMs stay FP32 too.
// CHECK-NOT: ds.quantize
// CHECK: ds.linear_dgrad %{{.*}}, %[[GATE]] : (
// CHECK: ds.linear_wgrad %{{.*}}, %{{.*}} : (tensor<8x4xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
// o_proj backward: on [B, S, C] the Wgrad's 128x1 tiles run along S within each sequence.
// CHECK: ds.linear_dgrad %{{.*}}, %[[OQ]] {ds.fp8_promote_interval = 128 : i64}
// CHECK: ds.quantize %{{.*}} {block = array<i64: 128, 1>} : (tensor<2x4x16xf32>) -> (tensor<2x4x16xf8E4M3FN>, tensor<2x1x16xf32>)
// CHECK: ds.quantize %[[OIQ]] {block = array<i64: 128, 1>} : (tensor<2x4x8xf32>) -> (tensor<2x4x8xf8E4M3FN>, tensor<2x1x8xf32>)
// CHECK: ds.linear_wgrad %{{.*}}, %{{.*}} {ds.fp8_promote_interval = 128 : i64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>) -> tensor<16x8xf32>
// The attention backward reads no quantized value.
// CHECK-NOT: ds.quantize
// CHECK: ds.attention_grad
// kv_a_proj and q_a_proj share x, so their Wgrads share its 128x1 re-quantization.
// CHECK: ds.quantize %[[XQ]] {block = array<i64: 128, 1>}
// CHECK: %[[XT:.*]] = ds.dequantize
// CHECK: ds.linear_wgrad %{{.*}}, %[[XT]] {ds.fp8_promote_interval = 128 : i64} : ({{.*}}) -> tensor<10x16xf32>
// CHECK: ds.linear_dgrad %{{.*}}, %[[QAQ]] {ds.fp8_promote_interval = 128 : i64}
// CHECK: ds.linear_wgrad %{{.*}}, %[[XT]] {ds.fp8_promote_interval = 128 : i64} : ({{.*}}) -> tensor<8x16xf32>
// The master weights and their gradients reach the optimizer unquantized.
// CHECK-NOT: ds.quantize
// CHECK: ds.embedding_grad
// CHECK: ds.grad_norm
// CHECK: ds.adamw %[[EMB]],
// CHECK: return
func.func @forward(%tokens: tensor<2x4xi32> {ds.input = "tokens"},
    %emb: tensor<32x16xf32> {ds.param = "model.embed_tokens.weight"},
    %qa: tensor<8x16xf32> {ds.param = "model.layers.0.self_attn.q_a_proj.weight"},
    %qan: tensor<8xf32> {ds.param = "model.layers.0.self_attn.q_a_layernorm.weight"},
    %qb: tensor<12x8xf32> {ds.param = "model.layers.0.self_attn.q_b_proj.weight"},
    %kva: tensor<10x16xf32> {ds.param = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight"},
    %kvan: tensor<8xf32> {ds.param = "model.layers.0.self_attn.kv_a_layernorm.weight"},
    %kvb: tensor<16x8xf32> {ds.param = "model.layers.0.self_attn.kv_b_proj.weight"},
    %o: tensor<16x8xf32> {ds.param = "model.layers.0.self_attn.o_proj.weight"},
    %gate: tensor<4x16xf32> {ds.param = "model.layers.0.mlp.gate.weight"},
    %bias: tensor<4xf32> {ds.buffer = "model.layers.0.mlp.gate.e_score_correction_bias"},
    %up: tensor<4x12x16xf32> {ds.param = "model.layers.0.mlp.experts.gate_up"},
    %down: tensor<4x16x6xf32> {ds.param = "model.layers.0.mlp.experts.down"},
    %head: tensor<32x16xf32> {ds.param = "lm_head.weight"})
    -> (tensor<f32> {ds.output = "loss"}, tensor<4xi32> {ds.output = "expert_counts.0"}) {
  %x = ds.embedding %tokens, %emb : (tensor<2x4xi32>, tensor<32x16xf32>) -> tensor<2x4x16xf32>
  %a = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {num_heads = 2 : i64,
      q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64,
      qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.408248290463863 : f64,
      rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64, interleaved = true,
      operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>}
      : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>,
         tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  %h = ds.add %x, %a : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %m, %counts = ds.moe %h, %gate, %bias, %up, %down {top_k = 2 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, score_func = "sigmoid",
      group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64,
      operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}
      : (tensor<2x4x16xf32>, tensor<4x16xf32>, tensor<4xf32>, tensor<4x12x16xf32>,
         tensor<4x16x6xf32>) -> (tensor<2x4x16xf32>, tensor<4xi32>)
  %y = ds.add %h, %m : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %logits = ds.linear %y, %head : (tensor<2x4x16xf32>, tensor<32x16xf32>) -> tensor<2x4x32xf32>
  %loss = ds.cross_entropy %logits, %tokens : (tensor<2x4x32xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %loss, %counts : tensor<f32>, tensor<4xi32>
}
