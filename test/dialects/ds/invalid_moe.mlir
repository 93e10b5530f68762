// Every verifier rule of the MoE primitives has a case here.
// RUN: ds-opt %s -split-input-file -verify-diagnostics

// -----

func.func @router_logits_rank(%l: tensor<8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{logits must have rank 2 ([T, E]) but has rank 1}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_top_k_zero(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'top_k' must be positive but is 0}}
  %i, %w = ds.router %l, %b {top_k = 0 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x0xi32>, tensor<8x0xf32>)
  return
}

// -----

func.func @router_bias_rank(%l: tensor<8x8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{bias must have rank 1 ([E]) but has rank 2}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<1x8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_bias_size(%l: tensor<8x8xf32>, %b: tensor<6xf32>) {
  // expected-error @+1 {{bias dimension 0 (experts) is 6 but logits dimension 1 (experts) is 8}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<6xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_bias_element(%l: tensor<8x8xf32>, %b: tensor<8xbf16>) {
  // expected-error @+1 {{bias element type is 'bf16' but logits element type is 'f32'}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xbf16>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_score_func(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'score_func' must be one of "sigmoid", "softmax" but is "relu"}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "relu", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_group_score(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'group_score' must be one of "top2_sum", "max" but is "mean"}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "mean", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_routed_scale(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'routed_scale' must be positive but is 0}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 0.0 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_n_group(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'n_group' must be positive but is 0}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 0 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_topk_group(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'topk_group' must be positive but is 0}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 0 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_top_k_experts(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'top_k' is 9 but there are only 8 experts}}
  %i, %w = ds.router %l, %b {top_k = 9 : i64, n_group = 1 : i64, topk_group = 1 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x9xi32>, tensor<8x9xf32>)
  return
}

// -----

func.func @router_groups_divide(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{the 8 experts do not split into n_group = 3 equal groups}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 3 : i64, topk_group = 1 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_topk_group_le_n_group(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'topk_group' is 5 but n_group is 4}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 5 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_kept_groups(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{attribute 'top_k' is 3 but the 1 kept groups hold only 2 experts}}
  %i, %w = ds.router %l, %b {top_k = 3 : i64, n_group = 4 : i64, topk_group = 1 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x3xi32>, tensor<8x3xf32>)
  return
}

// -----

func.func @router_top2_sum_group_size(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{group_score "top2_sum" needs at least 2 experts per group but each of the 8 groups has 1}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 8 : i64, topk_group = 4 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_result_slots(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{result indices dimension 1 is 3 but expected 2 from the operands (shape 8x2)}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x3xi32>, tensor<8x2xf32>)
  return
}

// -----

func.func @router_result_weights_element(%l: tensor<8x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{result weights element type is 'bf16' but the operands imply 'f32'}}
  %i, %w = ds.router %l, %b {top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8xf32>) -> (tensor<8x2xi32>, tensor<8x2xbf16>)
  return
}

// -----

func.func @balance_loss_logits_rank(%l: tensor<2x4x8xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{logits must have rank 2 ([T, E]) but has rank 3}}
  %y = ds.balance_loss %l, %i {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<2x4x8xf32>, tensor<8x2xi32>) -> tensor<f32>
  return
}

// -----

func.func @balance_loss_indices_rank(%l: tensor<8x8xf32>, %i: tensor<16xi32>) {
  // expected-error @+1 {{indices must have rank 2 ([T, K]) but has rank 1}}
  %y = ds.balance_loss %l, %i {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<16xi32>) -> tensor<f32>
  return
}

// -----

func.func @balance_loss_tokens(%l: tensor<8x8xf32>, %i: tensor<4x2xi32>) {
  // expected-error @+1 {{indices dimension 0 (tokens) is 4 but logits dimension 0 (tokens) is 8}}
  %y = ds.balance_loss %l, %i {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<4x2xi32>) -> tensor<f32>
  return
}

// -----

func.func @balance_loss_slots(%l: tensor<8x8xf32>, %i: tensor<8x9xi32>) {
  // expected-error @+1 {{indices dimension 1 (experts per token) is 9 but logits dimension 1 (experts) is 8}}
  %y = ds.balance_loss %l, %i {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x9xi32>) -> tensor<f32>
  return
}

// -----

func.func @balance_loss_alpha(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{attribute 'alpha' must be non-negative but is -1}}
  %y = ds.balance_loss %l, %i {alpha = -1.0 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>) -> tensor<f32>
  return
}

// -----

func.func @balance_loss_num_sequences(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{attribute 'num_sequences' must be positive but is 0}}
  %y = ds.balance_loss %l, %i {alpha = 1.0e-04 : f64, num_sequences = 0 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>) -> tensor<f32>
  return
}

// -----

func.func @balance_loss_sequences_divide(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{logits dimension 0 (tokens) is 8, which does not split into num_sequences = 3 equal sequences}}
  %y = ds.balance_loss %l, %i {alpha = 1.0e-04 : f64, num_sequences = 3 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>) -> tensor<f32>
  return
}

// -----

func.func @balance_loss_score_func(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{attribute 'score_func' must be one of "sigmoid", "softmax" but is "tanh"}}
  %y = ds.balance_loss %l, %i {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "tanh"} : (tensor<8x8xf32>, tensor<8x2xi32>) -> tensor<f32>
  return
}

// -----

func.func @dispatch_input_rank(%x: tensor<2x4x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{input must have rank 2 ([T, D]) but has rank 3}}
  %p, %c, %q = ds.dispatch %x, %i {num_experts = 8 : i64} : (tensor<2x4x16xf32>, tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<8xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_indices_rank(%x: tensor<8x16xf32>, %i: tensor<16xi32>) {
  // expected-error @+1 {{indices must have rank 2 ([T, K]) but has rank 1}}
  %p, %c, %q = ds.dispatch %x, %i {num_experts = 8 : i64} : (tensor<8x16xf32>, tensor<16xi32>) -> (tensor<16x16xf32>, tensor<8xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_num_experts(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{attribute 'num_experts' must be positive but is 0}}
  %p, %c, %q = ds.dispatch %x, %i {num_experts = 0 : i64} : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<0xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_tokens(%x: tensor<8x16xf32>, %i: tensor<4x2xi32>) {
  // expected-error @+1 {{indices dimension 0 (tokens) is 4 but input dimension 0 (tokens) is 8}}
  %p, %c, %q = ds.dispatch %x, %i {num_experts = 8 : i64} : (tensor<8x16xf32>, tensor<4x2xi32>) -> (tensor<16x16xf32>, tensor<8xi32>, tensor<4x2xi32>)
  return
}

// -----

func.func @dispatch_rows(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{result permuted dimension 0 is 8 but expected 16 from the operands (shape 16x16)}}
  %p, %c, %q = ds.dispatch %x, %i {num_experts = 8 : i64} : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<8x16xf32>, tensor<8xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_counts(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{result counts dimension 0 is 4 but expected 8 from the operands (shape 8)}}
  %p, %c, %q = ds.dispatch %x, %i {num_experts = 8 : i64} : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_positions(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{result positions dimension 1 is 1 but expected 2 from the operands (shape 8x2)}}
  %p, %c, %q = ds.dispatch %x, %i {num_experts = 8 : i64} : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<16x16xf32>, tensor<8xi32>, tensor<8x1xi32>)
  return
}

// -----

func.func @combine_input_rank(%x: tensor<16x2x8xf32>, %p: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{input must have rank 2 ([T*K, D]) but has rank 3}}
  %y = ds.combine %x, %p, %w : (tensor<16x2x8xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_positions_rank(%x: tensor<16x16xf32>, %p: tensor<16xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{positions must have rank 2 ([T, K]) but has rank 1}}
  %y = ds.combine %x, %p, %w : (tensor<16x16xf32>, tensor<16xi32>, tensor<8x2xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_weights_shape(%x: tensor<16x16xf32>, %p: tensor<8x2xi32>, %w: tensor<8x3xf32>) {
  // expected-error @+1 {{weights dimension 1 is 3 but expected 2 from the shape of positions (shape 8x2)}}
  %y = ds.combine %x, %p, %w : (tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x3xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_rows(%x: tensor<12x16xf32>, %p: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{input dimension 0 (rows) is 12 but tokens * experts per token of positions is 16}}
  %y = ds.combine %x, %p, %w : (tensor<12x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_weights_element(%x: tensor<16x16xf32>, %p: tensor<8x2xi32>, %w: tensor<8x2xbf16>) {
  // expected-error @+1 {{weights element type is 'bf16' but input element type is 'f32'}}
  %y = ds.combine %x, %p, %w : (tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xbf16>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_result(%x: tensor<16x16xf32>, %p: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{result dimension 0 is 16 but expected 8 from the operands (shape 8x16)}}
  %y = ds.combine %x, %p, %w : (tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @grouped_linear_input_rank(%x: tensor<2x8x16xf32>, %w: tensor<8x8x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{input must have rank 2 ([N, K]) but has rank 3}}
  %y = ds.grouped_linear %x, %w, %c : (tensor<2x8x16xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @grouped_linear_weight_rank(%x: tensor<16x16xf32>, %w: tensor<8x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{weight must have rank 3 ([E, Nout, K]) but has rank 2}}
  %y = ds.grouped_linear %x, %w, %c : (tensor<16x16xf32>, tensor<8x16xf32>, tensor<8xi32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @grouped_linear_in_features(%x: tensor<16x16xf32>, %w: tensor<8x8x32xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{weight dimension 2 (in features) is 32 but input dimension 1 (in features) is 16}}
  %y = ds.grouped_linear %x, %w, %c : (tensor<16x16xf32>, tensor<8x8x32xf32>, tensor<8xi32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @grouped_linear_counts_rank(%x: tensor<16x16xf32>, %w: tensor<8x8x16xf32>, %c: tensor<2x4xi32>) {
  // expected-error @+1 {{counts must have rank 1 ([E]) but has rank 2}}
  %y = ds.grouped_linear %x, %w, %c : (tensor<16x16xf32>, tensor<8x8x16xf32>, tensor<2x4xi32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @grouped_linear_counts_size(%x: tensor<16x16xf32>, %w: tensor<8x8x16xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{counts dimension 0 (experts) is 4 but weight dimension 0 (experts) is 8}}
  %y = ds.grouped_linear %x, %w, %c : (tensor<16x16xf32>, tensor<8x8x16xf32>, tensor<4xi32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @grouped_linear_element(%x: tensor<16x16xf32>, %w: tensor<8x8x16xbf16>, %c: tensor<8xi32>) {
  // expected-error @+1 {{weight element type is 'bf16' but input element type is 'f32'}}
  %y = ds.grouped_linear %x, %w, %c : (tensor<16x16xf32>, tensor<8x8x16xbf16>, tensor<8xi32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @grouped_linear_result(%x: tensor<16x16xf32>, %w: tensor<8x8x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{result dimension 1 is 16 but expected 8 from the operands (shape 16x8)}}
  %y = ds.grouped_linear %x, %w, %c : (tensor<16x16xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x16xf32>
  return
}
