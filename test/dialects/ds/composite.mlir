// Round trip of the composite ops (ds.mla, ds.moe, ds.mtp_head): each parses, verifies,
// prints and parses again with its operands, attributes and types intact.
// RUN: ds-opt %s | ds-opt | FileCheck %s

// CHECK-LABEL: func.func @mla_compressed_query(
// CHECK: %{{.*}} = ds.mla %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {interleaved = true, kv_lora_rank = 8 : i64, num_heads = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, q_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, rms_norm_eps = 9.9999999999999995E-7 : f64, softmax_scale = 0.40824829000000001 : f64, theta = 1.000000e+04 : f64, v_head_dim = 4 : i64, yarn_factor = 4.000000e+01 : f64, yarn_original_max_position = 4096 : i64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
func.func @mla_compressed_query(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) -> tensor<2x4x16xf32> {
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.40824829 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64, interleaved = true, yarn_factor = 40.0 : f64, yarn_original_max_position = 4096 : i64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// CHECK-LABEL: func.func @mla_direct_query(
// CHECK: %{{.*}} = ds.mla %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {kv_lora_rank = 8 : i64, num_heads = 2 : i64, operandSegmentSizes = array<i32: 1, 0, 0, 1, 1, 1, 1, 1>, q_lora_rank = 0 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, rms_norm_eps = 9.9999999999999995E-7 : f64, softmax_scale = 0.40824829000000001 : f64, theta = 1.000000e+04 : f64, v_head_dim = 4 : i64} : (tensor<2x4x16xf32>, tensor<12x16xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
// V2-Lite projects queries directly: q_lora_rank = 0, no q_a_weight / q_a_norm.
func.func @mla_direct_query(%x: tensor<2x4x16xf32>, %q: tensor<12x16xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) -> tensor<2x4x16xf32> {
  %y = ds.mla %x, %q, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 0, 0, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.40824829 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<12x16xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// CHECK-LABEL: func.func @moe_shared_balance(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = ds.moe %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {balance_alpha = 1.000000e-04 : f64, group_score = "top2_sum", n_group = 4 : i64, norm_topk_prob = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, routed_scale = 2.500000e+00 : f64, score_func = "sigmoid", top_k = 2 : i64, topk_group = 2 : i64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
func.func @moe_shared_balance(%x: tensor<2x4x16xf32>, %gate: tensor<8x16xf32>, %bias: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %down: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sdown: tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>) {
  %y, %counts, %loss = ds.moe %x, %gate, %bias, %gu, %down, %sgu, %sdown {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return %y, %counts, %loss : tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>
}

// CHECK-LABEL: func.func @moe_routed_only(
// CHECK: %{{.*}}, %{{.*}} = ds.moe %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {group_score = "max", n_group = 1 : i64, norm_topk_prob = false, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>, placement = {slots = array<i64: 0, 1, 2, 3, 4, 5, 6, 7>}, routed_scale = 1.000000e+00 : f64, score_func = "softmax", top_k = 2 : i64, topk_group = 1 : i64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>)
func.func @moe_routed_only(%x: tensor<2x4x16xf32>, %gate: tensor<8x16xf32>, %bias: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %down: tensor<8x16x4xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>) {
  %y, %counts = ds.moe %x, %gate, %bias, %gu, %down {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>, top_k = 2 : i64, n_group = 1 : i64, topk_group = 1 : i64, score_func = "softmax", group_score = "max", norm_topk_prob = false, routed_scale = 1.0 : f64, placement = {slots = array<i64: 0, 1, 2, 3, 4, 5, 6, 7>}} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>)
  return %y, %counts : tensor<2x4x16xf32>, tensor<8xi32>
}

// CHECK-LABEL: func.func @mtp_head(
// CHECK: %{{.*}} = ds.mtp_head %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {depth = 1 : i64, loss_weight = 3.000000e-01 : f64, rms_norm_eps = 9.9999999999999995E-7 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
func.func @mtp_head(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %proj: tensor<16x32xf32>) -> tensor<2x4x16xf32> {
  %y = ds.mtp_head %h, %e, %hn, %en, %proj {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}
