// RUN: ds-opt %s --ds-decompose --ds-autodiff | FileCheck %s

// One V3-style layer (MLA with query compression, MoE with shared experts) through
// ds-decompose and ds-autodiff: every primitive of the decomposed graph has a VJP and
// the step verifies. B=2 S=4 D=16, 2 heads (nope 4, rope 2, v 4), 4 experts, top-2.
// CHECK-LABEL: func.func @train_step(
// CHECK-NOT: ds.mla
// CHECK-NOT: ds.moe
// CHECK: ds.attention
// CHECK: %[[SEED:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: ds.cross_entropy_grad
// The MoE backward, then the MLA backward in reverse program order.
// CHECK: ds.combine_grad
// CHECK: ds.dispatch_grad
// CHECK: ds.router_grad
// CHECK: ds.attention_grad
// Value and k_nope come back through slice_grad of the kv_b output, the shared RoPE key
// through expand_grad and rope_grad, the query through the concat's slices.
// CHECK-DAG: ds.slice_grad %{{.*}} {dim = 3 : i64, offset = 4 : i64} : (tensor<2x4x2x4xf32>) -> tensor<2x4x2x8xf32>
// CHECK-DAG: ds.expand_grad %{{.*}} : (tensor<2x4x2x2xf32>) -> tensor<2x4x1x2xf32>
// CHECK-DAG: ds.rope_grad %{{.*}} {interleaved = true, theta = 1.000000e+04 : f64} : (tensor<2x4x1x2xf32>) -> tensor<2x4x1x2xf32>
// CHECK-DAG: ds.rope_grad %{{.*}} {interleaved = true, theta = 1.000000e+04 : f64} : (tensor<2x4x2x2xf32>) -> tensor<2x4x2x2xf32>
// CHECK-DAG: ds.slice %{{.*}} {dim = 3 : i64, offset = 4 : i64, size = 2 : i64} : (tensor<2x4x2x6xf32>) -> tensor<2x4x2x2xf32>
// CHECK-DAG: ds.rms_norm_grad
// CHECK: ds.embedding_grad
// CHECK: %[[NORM:.*]] = ds.grad_norm
// CHECK-COUNT-12: ds.adamw {{.*}}, %[[NORM]]
// CHECK: ds.bias_update
// CHECK-NOT: ds.adamw
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
