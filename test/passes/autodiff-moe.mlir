// RUN: ds-opt %s --ds-autodiff="bias-update-gamma=0.01" | FileCheck %s

// A routed MoE fragment with the sequence-wise balance loss. The routing indices, counts
// and positions get no gradient; the gate gets router_grad (through the combine
// weights) plus balance_loss_grad; the router bias buffer is not trained but moved by
// ds.bias_update from the layer's expert_counts output.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[TOK:[a-z0-9]+]]: tensor<2x4xi32> {ds.input = "tokens"}
// CHECK-SAME: %[[EMB:[a-z0-9]+]]: tensor<16x8xf32>
// CHECK-SAME: %[[GATE:[a-z0-9]+]]: tensor<4x8xf32>
// CHECK-SAME: %[[BIAS:[a-z0-9]+]]: tensor<4xf32> {ds.buffer = "model.layers.0.mlp.gate.e_score_correction_bias"}
// CHECK-SAME: %[[UP:[a-z0-9]+]]: tensor<4x12x8xf32>
// CHECK-SAME: %[[DOWN:[a-z0-9]+]]: tensor<4x8x6xf32>
// CHECK-NOT: ds.state = "exp_avg.model.layers.0.mlp.gate.e_score_correction_bias"
// CHECK-SAME: -> (tensor<f32> {ds.output = "loss"}, tensor<4xi32> {ds.output = "expert_counts.0"}, tensor<f32> {ds.output = "grad_norm"},
// CHECK-SAME: tensor<4xf32> {ds.update = "model.layers.0.mlp.gate.e_score_correction_bias"})
// CHECK: %[[T:.*]] = ds.reshape
// CHECK: %[[LOGITS:.*]] = ds.linear %[[T]], %[[GATE]]
// CHECK: %[[IDX:.*]], %[[W:.*]] = ds.router %[[LOGITS]], %[[BIAS]]
// CHECK: %[[PERM:.*]], %[[COUNTS:.*]], %[[POS:.*]] = ds.dispatch %[[T]], %[[IDX]]
// CHECK: %[[GU:.*]] = ds.grouped_linear %[[PERM]], %[[UP]], %[[COUNTS]]
// CHECK: %[[ACT:.*]] = ds.swiglu %[[GU]]
// CHECK: %[[DN:.*]] = ds.grouped_linear %[[ACT]], %[[DOWN]], %[[COUNTS]]
// CHECK: ds.combine %[[DN]], %[[POS]], %[[W]]
// CHECK: %[[SEED:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[DBAL:.*]] = ds.balance_loss_grad %[[LOGITS]], %[[IDX]], %[[SEED]] {alpha = 1.000000e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"}
// CHECK: %[[DY:.*]] = ds.linear_dgrad
// CHECK: %[[DDN:.*]], %[[DW:.*]] = ds.combine_grad %[[DY]], %[[DN]], %[[POS]], %[[W]]
// CHECK: %[[DACT:.*]] = ds.grouped_linear_dgrad %[[DDN]], %[[DOWN]], %[[COUNTS]]
// CHECK: %[[DDOWN:.*]] = ds.grouped_linear_wgrad %[[DDN]], %[[ACT]], %[[COUNTS]]
// CHECK: %[[DGU:.*]] = ds.swiglu_grad %[[GU]], %[[DACT]]
// CHECK: %[[DPERM:.*]] = ds.grouped_linear_dgrad %[[DGU]], %[[UP]], %[[COUNTS]]
// CHECK: %[[DUP:.*]] = ds.grouped_linear_wgrad %[[DGU]], %[[PERM]], %[[COUNTS]]
// CHECK: %[[DT1:.*]] = ds.dispatch_grad %[[DPERM]], %[[POS]]
// CHECK: %[[DROUTER:.*]] = ds.router_grad %[[LOGITS]], %[[IDX]], %[[DW]] {norm_topk_prob = true, routed_scale = 2.500000e+00 : f64, score_func = "sigmoid"}
// CHECK: %[[DLOGITS:.*]] = ds.add %[[DBAL]], %[[DROUTER]]
// CHECK: %[[DT2:.*]] = ds.linear_dgrad %[[DLOGITS]], %[[GATE]]
// CHECK: %[[DGATE:.*]] = ds.linear_wgrad %[[DLOGITS]], %[[T]]
// CHECK: ds.add %[[DT1]], %[[DT2]]
// CHECK: %[[DEMB:.*]] = ds.embedding_grad
// CHECK: %[[NORM:.*]] = ds.grad_norm %[[DEMB]], %[[DGATE]], %[[DUP]], %[[DDOWN]],
// CHECK: %[[NEWBIAS:.*]] = ds.bias_update %[[BIAS]], %[[COUNTS]] {gamma = 1.000000e-02 : f64}
// CHECK: return {{.*}}, %[[NEWBIAS]] :
func.func @forward(%tokens: tensor<2x4xi32> {ds.input = "tokens"},
    %emb: tensor<16x8xf32> {ds.param = "model.embed_tokens.weight", ds.init = "normal"},
    %gate: tensor<4x8xf32> {ds.param = "model.layers.0.mlp.gate.weight", ds.init = "normal"},
    %bias: tensor<4xf32> {ds.buffer = "model.layers.0.mlp.gate.e_score_correction_bias"},
    %up: tensor<4x12x8xf32> {ds.param = "model.layers.0.mlp.experts.gate_up", ds.init = "normal"},
    %down: tensor<4x8x6xf32> {ds.param = "model.layers.0.mlp.experts.down", ds.init = "normal"},
    %head: tensor<16x8xf32> {ds.param = "lm_head.weight", ds.init = "normal"})
    -> (tensor<f32> {ds.output = "loss"}, tensor<4xi32> {ds.output = "expert_counts.0"}) {
  %x = ds.embedding %tokens, %emb : (tensor<2x4xi32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
  %t = ds.reshape %x : (tensor<2x4x8xf32>) -> tensor<8x8xf32>
  %logits = ds.linear %t, %gate : (tensor<8x8xf32>, tensor<4x8xf32>) -> tensor<8x4xf32>
  %idx, %w = ds.router %logits, %bias {group_score = "top2_sum", n_group = 1 : i64, norm_topk_prob = true, routed_scale = 2.5 : f64, score_func = "sigmoid", top_k = 2 : i64, topk_group = 1 : i64} : (tensor<8x4xf32>, tensor<4xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  %perm, %counts, %pos = ds.dispatch %t, %idx {num_experts = 4 : i64} : (tensor<8x8xf32>, tensor<8x2xi32>) -> (tensor<16x8xf32>, tensor<4xi32>, tensor<8x2xi32>)
  %gu = ds.grouped_linear %perm, %up, %counts : (tensor<16x8xf32>, tensor<4x12x8xf32>, tensor<4xi32>) -> tensor<16x12xf32>
  %a = ds.swiglu %gu : (tensor<16x12xf32>) -> tensor<16x6xf32>
  %dn = ds.grouped_linear %a, %down, %counts : (tensor<16x6xf32>, tensor<4x8x6xf32>, tensor<4xi32>) -> tensor<16x8xf32>
  %y = ds.combine %dn, %pos, %w : (tensor<16x8xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x8xf32>
  %lg = ds.linear %y, %head : (tensor<8x8xf32>, tensor<16x8xf32>) -> tensor<8x16xf32>
  %labels = ds.reshape %tokens : (tensor<2x4xi32>) -> tensor<8xi32>
  %ce = ds.cross_entropy %lg, %labels : (tensor<8x16xf32>, tensor<8xi32>) -> tensor<f32>
  %bl = ds.balance_loss %logits, %idx {alpha = 1.0e-4 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x4xf32>, tensor<8x2xi32>) -> tensor<f32>
  %loss = ds.add %ce, %bl : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %loss, %counts : tensor<f32>, tensor<4xi32>
}
