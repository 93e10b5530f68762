// Round trip of the MoE primitives: routing, permutation and the grouped expert GEMM.
// RUN: ds-opt %s | ds-opt | FileCheck %s

// CHECK-LABEL: func.func @router_v3(
// CHECK: %{{.*}}, %{{.*}} = ds.router %{{.*}}, %{{.*}} {group_score = "top2_sum", n_group = 4 : i64, norm_topk_prob = true, routed_scale = 2.500000e+00 : f64, score_func = "sigmoid", top_k = 2 : i64, topk_group = 2 : i64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
// V3 routing: sigmoid scores, 4 groups of 2 experts, the best 2 groups, top-2 experts.
func.func @router_v3(%logits: tensor<8x8xf32>, %bias: tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>) {
  %i, %w = ds.router %logits, %bias {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return %i, %w : tensor<8x2xi32>, tensor<8x2xf32>
}

// CHECK-LABEL: func.func @router_v2(
// CHECK: %{{.*}}, %{{.*}} = ds.router %{{.*}}, %{{.*}} {group_score = "max", n_group = 1 : i64, norm_topk_prob = false, routed_scale = 1.000000e+00 : f64, score_func = "softmax", top_k = 3 : i64, topk_group = 1 : i64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x3xi32>, tensor<8x3xf32>)
// V2 routing: softmax scores, group score by maximum.
func.func @router_v2(%logits: tensor<8x8xf32>, %bias: tensor<8xf32>) -> (tensor<8x3xi32>, tensor<8x3xf32>) {
  %i, %w = ds.router %logits, %bias {top_k = 3 : i64, n_group = 1 : i64, topk_group = 1 : i64, score_func = "softmax", group_score = "max", norm_topk_prob = false, routed_scale = 1.0 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x3xi32>, tensor<8x3xf32>)
  return %i, %w : tensor<8x3xi32>, tensor<8x3xf32>
}

// CHECK-LABEL: func.func @balance_loss(
// CHECK: %{{.*}} = ds.balance_loss %{{.*}}, %{{.*}} {alpha = 1.000000e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>) -> tensor<f32>
func.func @balance_loss(%logits: tensor<8x8xf32>, %i: tensor<8x2xi32>) -> tensor<f32> {
  %l = ds.balance_loss %logits, %i {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @dispatch_experts_combine(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = ds.dispatch %{{.*}}, %{{.*}} {num_experts = 8 : i64} : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<8xi32>, tensor<8x2xi32>)
// CHECK: %{{.*}} = ds.grouped_linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x16xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x8xf32>
// CHECK: %{{.*}} = ds.swiglu %{{.*}} : (tensor<16x8xf32>) -> tensor<16x4xf32>
// CHECK: %{{.*}} = ds.grouped_linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x4xf32>, tensor<8x16x4xf32>, tensor<8xi32>) -> tensor<16x16xf32>
// CHECK: %{{.*}} = ds.combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x16xf32>
func.func @dispatch_experts_combine(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>, %w: tensor<8x2xf32>, %gu: tensor<8x8x16xf32>, %down: tensor<8x16x4xf32>) -> tensor<8x16xf32> {
  %rows, %counts, %pos = ds.dispatch %x, %i {num_experts = 8 : i64} : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<8xi32>, tensor<8x2xi32>)
  %h = ds.grouped_linear %rows, %gu, %counts : (tensor<16x16xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x8xf32>
  %a = ds.swiglu %h : (tensor<16x8xf32>) -> tensor<16x4xf32>
  %o = ds.grouped_linear %a, %down, %counts : (tensor<16x4xf32>, tensor<8x16x4xf32>, tensor<8xi32>) -> tensor<16x16xf32>
  %y = ds.combine %o, %pos, %w : (tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
