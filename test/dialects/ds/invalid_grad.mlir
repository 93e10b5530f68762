// Every verifier rule of the backward ops has a case here. A gradient has the type of
// the forward value it belongs to.
// RUN: ds-opt %s -split-input-file -verify-diagnostics

// -----

func.func @embedding_grad_rank(%ids: tensor<2x4xi32>, %dy: tensor<8x16xf32>) {
  // expected-error @+1 {{result_grad must have rank 3 (the shape of ids, then D) but has rank 2}}
  %r0 = ds.embedding_grad %ids, %dy : (tensor<2x4xi32>, tensor<8x16xf32>) -> tensor<32x16xf32>
  return
}

// -----

func.func @embedding_grad_leading(%ids: tensor<2x4xi32>, %dy: tensor<2x5x16xf32>) {
  // expected-error @+1 {{result_grad dimension 1 is 5 but ids dimension 1 is 4}}
  %r0 = ds.embedding_grad %ids, %dy : (tensor<2x4xi32>, tensor<2x5x16xf32>) -> tensor<32x16xf32>
  return
}

// -----

func.func @embedding_grad_table_rank(%ids: tensor<2x4xi32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result table_grad must have rank 2 ([V, D]) but has rank 1}}
  %r0 = ds.embedding_grad %ids, %dy : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<512xf32>
  return
}

// -----

func.func @embedding_grad_table_dim(%ids: tensor<2x4xi32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result table_grad dimension 1 (embedding dim) is 8 but the last dimension of result_grad is 16}}
  %r0 = ds.embedding_grad %ids, %dy : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<32x8xf32>
  return
}

// -----

func.func @embedding_grad_element(%ids: tensor<2x4xi32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result table_grad element type is 'bf16' but result_grad element type is 'f32'}}
  %r0 = ds.embedding_grad %ids, %dy : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<32x16xbf16>
  return
}

// -----

func.func @rms_norm_grad_input_rank(%x: tensor<f32>, %w: tensor<16xf32>, %dy: tensor<f32>) {
  // expected-error @+1 {{input must have rank at least 1 ([..., D]) but has rank 0}}
  %r0, %r1 = ds.rms_norm_grad %x, %w, %dy {eps = 1.0e-06 : f64} : (tensor<f32>, tensor<16xf32>, tensor<f32>) -> (tensor<f32>, tensor<16xf32>)
  return
}

// -----

func.func @rms_norm_grad_weight(%x: tensor<2x4x16xf32>, %w: tensor<8xf32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{weight dimension 0 (normalized size) is 8 but the last dimension of input is 16}}
  %r0, %r1 = ds.rms_norm_grad %x, %w, %dy {eps = 1.0e-06 : f64} : (tensor<2x4x16xf32>, tensor<8xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<8xf32>)
  return
}

// -----

func.func @rms_norm_grad_eps(%x: tensor<2x4x16xf32>, %w: tensor<16xf32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{attribute 'eps' must be positive but is 0}}
  %r0, %r1 = ds.rms_norm_grad %x, %w, %dy {eps = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>)
  return
}

// -----

func.func @rms_norm_grad_result_grad(%x: tensor<2x4x16xf32>, %w: tensor<16xf32>, %dy: tensor<2x4x8xf32>) {
  // expected-error @+1 {{result_grad dimension 2 is 8 but expected 16 from the shape of input (shape 2x4x16)}}
  %r0, %r1 = ds.rms_norm_grad %x, %w, %dy {eps = 1.0e-06 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x8xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>)
  return
}

// -----

func.func @rms_norm_grad_result_grad_element(%x: tensor<2x4x16xf32>, %w: tensor<16xf32>, %dy: tensor<2x4x16xbf16>) {
  // expected-error @+1 {{result_grad element type is 'bf16' but input element type is 'f32'}}
  %r0, %r1 = ds.rms_norm_grad %x, %w, %dy {eps = 1.0e-06 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xbf16>) -> (tensor<2x4x16xf32>, tensor<16xf32>)
  return
}

// -----

func.func @rms_norm_grad_weight_grad(%x: tensor<2x4x16xf32>, %w: tensor<16xf32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result weight_grad dimension 0 is 8 but expected 16 from the operands (shape 16)}}
  %r0, %r1 = ds.rms_norm_grad %x, %w, %dy {eps = 1.0e-06 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<8xf32>)
  return
}

// -----

func.func @linear_dgrad_rank(%dy: tensor<f32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{result_grad must have rank at least 1 ([..., N]) but has rank 0}}
  %r0 = ds.linear_dgrad %dy, %w : (tensor<f32>, tensor<8x16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @linear_dgrad_weight_rank(%dy: tensor<2x4x8xf32>, %w: tensor<128xf32>) {
  // expected-error @+1 {{weight must have rank 2 ([N, K]) but has rank 1}}
  %r0 = ds.linear_dgrad %dy, %w : (tensor<2x4x8xf32>, tensor<128xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @linear_dgrad_out_features(%dy: tensor<2x4x8xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{weight dimension 0 (out features) is 4 but the last dimension of result_grad is 8}}
  %r0 = ds.linear_dgrad %dy, %w : (tensor<2x4x8xf32>, tensor<4x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @linear_dgrad_element(%dy: tensor<2x4x8xf32>, %w: tensor<8x16xbf16>) {
  // expected-error @+1 {{weight element type is 'bf16' but result_grad element type is 'f32'}}
  %r0 = ds.linear_dgrad %dy, %w : (tensor<2x4x8xf32>, tensor<8x16xbf16>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @linear_dgrad_result(%dy: tensor<2x4x8xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{result input_grad dimension 2 is 8 but expected 16 from the operands (shape 2x4x16)}}
  %r0 = ds.linear_dgrad %dy, %w : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @linear_wgrad_rank(%dy: tensor<f32>, %x: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result_grad must have rank at least 1 ([..., N]) but has rank 0}}
  %r0 = ds.linear_wgrad %dy, %x : (tensor<f32>, tensor<2x4x16xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @linear_wgrad_input_rank(%dy: tensor<2x4x8xf32>, %x: tensor<f32>) {
  // expected-error @+1 {{input must have rank at least 1 ([..., K]) but has rank 0}}
  %r0 = ds.linear_wgrad %dy, %x : (tensor<2x4x8xf32>, tensor<f32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @linear_wgrad_rows(%dy: tensor<2x4x8xf32>, %x: tensor<2x3x16xf32>) {
  // expected-error @+1 {{input dimension 1 is 3 but expected 4 from the rows of result_grad (shape 2x4x16)}}
  %r0 = ds.linear_wgrad %dy, %x : (tensor<2x4x8xf32>, tensor<2x3x16xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @linear_wgrad_element(%dy: tensor<2x4x8xf32>, %x: tensor<2x4x16xbf16>) {
  // expected-error @+1 {{input element type is 'bf16' but result_grad element type is 'f32'}}
  %r0 = ds.linear_wgrad %dy, %x : (tensor<2x4x8xf32>, tensor<2x4x16xbf16>) -> tensor<8x16xf32>
  return
}

// -----

func.func @linear_wgrad_result(%dy: tensor<2x4x8xf32>, %x: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result weight_grad dimension 0 is 16 but expected 8 from the operands (shape 8x16)}}
  %r0 = ds.linear_wgrad %dy, %x : (tensor<2x4x8xf32>, tensor<2x4x16xf32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @rope_grad_rank(%dy: tensor<2x4x8xf32>) {
  // expected-error @+1 {{result_grad must have rank 4 ([B, S, H, Dr]) but has rank 3}}
  %r0 = ds.rope_grad %dy {theta = 10000.0 : f64} : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @rope_grad_odd(%dy: tensor<2x4x2x5xf32>) {
  // expected-error @+1 {{result_grad dimension 3 (rotary dim) is 5 but must be even}}
  %r0 = ds.rope_grad %dy {theta = 10000.0 : f64} : (tensor<2x4x2x5xf32>) -> tensor<2x4x2x5xf32>
  return
}

// -----

func.func @rope_grad_theta(%dy: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{attribute 'theta' must be positive but is -1}}
  %r0 = ds.rope_grad %dy {theta = -1.0 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @rope_grad_result(%dy: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{result input_grad element type is 'bf16' but the operands imply 'f32'}}
  %r0 = ds.rope_grad %dy {theta = 10000.0 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xbf16>
  return
}

// -----

func.func @attention_grad_query_rank(%q: tensor<2x4x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{query must have rank 4 ([B, S, H, Dqk]) but has rank 3}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_key_rank(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{key must have rank 4 ([B, S, H, Dqk]) but has rank 3}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x6xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_value_rank(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{value must have rank 4 ([B, S, H, Dv]) but has rank 3}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x4xf32>)
  return
}

// -----

func.func @attention_grad_key_dim(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x8xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{key dimension 3 (head dim) is 8 but query dimension 3 is 6}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_scale(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{attribute 'scale' must be positive but is 0}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.0 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_result_shape(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x6xf32>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{result dimension 3 is 6 but expected 4 from the attention of query and value (shape 2x4x2x4)}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_result_element(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xbf16>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{result element type is 'bf16' but query element type is 'f32'}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xbf16>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_result_grad(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x1x4xf32>) {
  // expected-error @+1 {{result_grad dimension 2 is 1 but expected 2 from the shape of result (shape 2x4x2x4)}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x1x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_result_grad_element(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xbf16>) {
  // expected-error @+1 {{result_grad element type is 'bf16' but result element type is 'f32'}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xbf16>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @attention_grad_key_grad(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{result key_grad dimension 3 is 4 but expected 6 from the operands (shape 2x4x2x6)}}
  %r0, %r1, %r2 = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>)
  return
}

// -----

func.func @router_grad_indices(%l: tensor<8x8xf32>, %i: tensor<4x2xi32>, %dw: tensor<4x2xf32>) {
  // expected-error @+1 {{indices dimension 0 (tokens) is 4 but logits dimension 0 (tokens) is 8}}
  %r0 = ds.router_grad %l, %i, %dw {score_func = "sigmoid", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<4x2xi32>, tensor<4x2xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @router_grad_weights_grad(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dw: tensor<8x3xf32>) {
  // expected-error @+1 {{weights_grad dimension 1 is 3 but expected 2 from the shape of indices (shape 8x2)}}
  %r0 = ds.router_grad %l, %i, %dw {score_func = "sigmoid", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<8x3xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @router_grad_weights_grad_element(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dw: tensor<8x2xbf16>) {
  // expected-error @+1 {{weights_grad element type is 'bf16' but logits element type is 'f32'}}
  %r0 = ds.router_grad %l, %i, %dw {score_func = "sigmoid", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<8x2xbf16>) -> tensor<8x8xf32>
  return
}

// -----

func.func @router_grad_score_func(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dw: tensor<8x2xf32>) {
  // expected-error @+1 {{attribute 'score_func' must be one of "sigmoid", "softmax" but is "softplus"}}
  %r0 = ds.router_grad %l, %i, %dw {score_func = "softplus", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @router_grad_routed_scale(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dw: tensor<8x2xf32>) {
  // expected-error @+1 {{attribute 'routed_scale' must be positive but is -2.5}}
  %r0 = ds.router_grad %l, %i, %dw {score_func = "sigmoid", norm_topk_prob = true, routed_scale = -2.5 : f64} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @router_grad_result(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dw: tensor<8x2xf32>) {
  // expected-error @+1 {{result logits_grad dimension 1 is 2 but expected 8 from the operands (shape 8x8)}}
  %r0 = ds.router_grad %l, %i, %dw {score_func = "sigmoid", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x2xf32>
  return
}

// -----

func.func @balance_loss_grad_indices_rank(%l: tensor<8x8xf32>, %i: tensor<16xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{indices must have rank 2 ([T, K]) but has rank 1}}
  %r0 = ds.balance_loss_grad %l, %i, %dl {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<16xi32>, tensor<f32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @balance_loss_grad_sequences(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{logits dimension 0 (tokens) is 8, which does not split into num_sequences = 3 equal sequences}}
  %r0 = ds.balance_loss_grad %l, %i, %dl {alpha = 1.0e-04 : f64, num_sequences = 3 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<f32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @balance_loss_grad_alpha(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{attribute 'alpha' must be non-negative but is -0.1}}
  %r0 = ds.balance_loss_grad %l, %i, %dl {alpha = -0.1 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<f32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @balance_loss_grad_result(%l: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{result logits_grad element type is 'bf16' but the operands imply 'f32'}}
  %r0 = ds.balance_loss_grad %l, %i, %dl {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<f32>) -> tensor<8x8xbf16>
  return
}

// -----

func.func @dispatch_grad_rank(%dp: tensor<256xf32>, %pos: tensor<8x2xi32>) {
  // expected-error @+1 {{permuted_grad must have rank 2 ([T*K, D]) but has rank 1}}
  %r0 = ds.dispatch_grad %dp, %pos : (tensor<256xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @dispatch_grad_positions_rank(%dp: tensor<16x16xf32>, %pos: tensor<16xi32>) {
  // expected-error @+1 {{positions must have rank 2 ([T, K]) but has rank 1}}
  %r0 = ds.dispatch_grad %dp, %pos : (tensor<16x16xf32>, tensor<16xi32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @dispatch_grad_rows(%dp: tensor<12x16xf32>, %pos: tensor<8x2xi32>) {
  // expected-error @+1 {{permuted_grad dimension 0 (rows) is 12 but tokens * experts per token of positions is 16}}
  %r0 = ds.dispatch_grad %dp, %pos : (tensor<12x16xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @dispatch_grad_result(%dp: tensor<16x16xf32>, %pos: tensor<8x2xi32>) {
  // expected-error @+1 {{result input_grad dimension 0 is 16 but expected 8 from the operands (shape 8x16)}}
  %r0 = ds.dispatch_grad %dp, %pos : (tensor<16x16xf32>, tensor<8x2xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @combine_grad_input_rank(%dy: tensor<8x16xf32>, %x: tensor<256xf32>, %pos: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{input must have rank 2 ([T*K, D]) but has rank 1}}
  %r0, %r1 = ds.combine_grad %dy, %x, %pos, %w : (tensor<8x16xf32>, tensor<256xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<256xf32>, tensor<8x2xf32>)
  return
}

// -----

func.func @combine_grad_positions_rank(%dy: tensor<8x16xf32>, %x: tensor<16x16xf32>, %pos: tensor<16xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{positions must have rank 2 ([T, K]) but has rank 1}}
  %r0, %r1 = ds.combine_grad %dy, %x, %pos, %w : (tensor<8x16xf32>, tensor<16x16xf32>, tensor<16xi32>, tensor<8x2xf32>) -> (tensor<16x16xf32>, tensor<8x2xf32>)
  return
}

// -----

func.func @combine_grad_rows(%dy: tensor<8x16xf32>, %x: tensor<8x16xf32>, %pos: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{input dimension 0 (rows) is 8 but tokens * experts per token of positions is 16}}
  %r0, %r1 = ds.combine_grad %dy, %x, %pos, %w : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<8x16xf32>, tensor<8x2xf32>)
  return
}

// -----

func.func @combine_grad_weights(%dy: tensor<8x16xf32>, %x: tensor<16x16xf32>, %pos: tensor<8x2xi32>, %w: tensor<8x1xf32>) {
  // expected-error @+1 {{weights dimension 1 is 1 but expected 2 from the shape of positions (shape 8x2)}}
  %r0, %r1 = ds.combine_grad %dy, %x, %pos, %w : (tensor<8x16xf32>, tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x1xf32>) -> (tensor<16x16xf32>, tensor<8x1xf32>)
  return
}

// -----

func.func @combine_grad_result_grad(%dy: tensor<8x8xf32>, %x: tensor<16x16xf32>, %pos: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{result_grad dimension 1 is 8 but expected 16 from ds.combine's result [T, D] (shape 8x16)}}
  %r0, %r1 = ds.combine_grad %dy, %x, %pos, %w : (tensor<8x8xf32>, tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<16x16xf32>, tensor<8x2xf32>)
  return
}

// -----

func.func @combine_grad_result_grad_element(%dy: tensor<8x16xbf16>, %x: tensor<16x16xf32>, %pos: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{result_grad element type is 'bf16' but input element type is 'f32'}}
  %r0, %r1 = ds.combine_grad %dy, %x, %pos, %w : (tensor<8x16xbf16>, tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<16x16xf32>, tensor<8x2xf32>)
  return
}

// -----

func.func @combine_grad_weights_grad(%dy: tensor<8x16xf32>, %x: tensor<16x16xf32>, %pos: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{result weights_grad element type is 'bf16' but the operands imply 'f32'}}
  %r0, %r1 = ds.combine_grad %dy, %x, %pos, %w : (tensor<8x16xf32>, tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<16x16xf32>, tensor<8x2xbf16>)
  return
}

// -----

func.func @grouped_dgrad_rank(%dy: tensor<2x8x8xf32>, %w: tensor<8x8x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{result_grad must have rank 2 ([N, Nout]) but has rank 3}}
  %r0 = ds.grouped_linear_dgrad %dy, %w, %c : (tensor<2x8x8xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @grouped_dgrad_weight_rank(%dy: tensor<16x8xf32>, %w: tensor<64x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{weight must have rank 3 ([E, Nout, K]) but has rank 2}}
  %r0 = ds.grouped_linear_dgrad %dy, %w, %c : (tensor<16x8xf32>, tensor<64x16xf32>, tensor<8xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @grouped_dgrad_out_features(%dy: tensor<16x8xf32>, %w: tensor<8x4x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{weight dimension 1 (out features) is 4 but result_grad dimension 1 (out features) is 8}}
  %r0 = ds.grouped_linear_dgrad %dy, %w, %c : (tensor<16x8xf32>, tensor<8x4x16xf32>, tensor<8xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @grouped_dgrad_counts(%dy: tensor<16x8xf32>, %w: tensor<8x8x16xf32>, %c: tensor<7xi32>) {
  // expected-error @+1 {{counts dimension 0 (experts) is 7 but weight dimension 0 (experts) is 8}}
  %r0 = ds.grouped_linear_dgrad %dy, %w, %c : (tensor<16x8xf32>, tensor<8x8x16xf32>, tensor<7xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @grouped_dgrad_element(%dy: tensor<16x8xf32>, %w: tensor<8x8x16xbf16>, %c: tensor<8xi32>) {
  // expected-error @+1 {{weight element type is 'bf16' but result_grad element type is 'f32'}}
  %r0 = ds.grouped_linear_dgrad %dy, %w, %c : (tensor<16x8xf32>, tensor<8x8x16xbf16>, tensor<8xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @grouped_dgrad_result(%dy: tensor<16x8xf32>, %w: tensor<8x8x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{result input_grad dimension 1 is 8 but expected 16 from the operands (shape 16x16)}}
  %r0 = ds.grouped_linear_dgrad %dy, %w, %c : (tensor<16x8xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x8xf32>
  return
}

// -----

func.func @grouped_wgrad_rank(%dy: tensor<128xf32>, %x: tensor<16x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{result_grad must have rank 2 ([N, Nout]) but has rank 1}}
  %r0 = ds.grouped_linear_wgrad %dy, %x, %c : (tensor<128xf32>, tensor<16x16xf32>, tensor<8xi32>) -> tensor<8x8x16xf32>
  return
}

// -----

func.func @grouped_wgrad_input_rank(%dy: tensor<16x8xf32>, %x: tensor<256xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{input must have rank 2 ([N, K]) but has rank 1}}
  %r0 = ds.grouped_linear_wgrad %dy, %x, %c : (tensor<16x8xf32>, tensor<256xf32>, tensor<8xi32>) -> tensor<8x8x16xf32>
  return
}

// -----

func.func @grouped_wgrad_counts_rank(%dy: tensor<16x8xf32>, %x: tensor<16x16xf32>, %c: tensor<2x4xi32>) {
  // expected-error @+1 {{counts must have rank 1 ([E]) but has rank 2}}
  %r0 = ds.grouped_linear_wgrad %dy, %x, %c : (tensor<16x8xf32>, tensor<16x16xf32>, tensor<2x4xi32>) -> tensor<8x8x16xf32>
  return
}

// -----

func.func @grouped_wgrad_rows(%dy: tensor<16x8xf32>, %x: tensor<12x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{input dimension 0 (rows) is 12 but result_grad dimension 0 (rows) is 16}}
  %r0 = ds.grouped_linear_wgrad %dy, %x, %c : (tensor<16x8xf32>, tensor<12x16xf32>, tensor<8xi32>) -> tensor<8x8x16xf32>
  return
}

// -----

func.func @grouped_wgrad_element(%dy: tensor<16x8xf32>, %x: tensor<16x16xbf16>, %c: tensor<8xi32>) {
  // expected-error @+1 {{input element type is 'bf16' but result_grad element type is 'f32'}}
  %r0 = ds.grouped_linear_wgrad %dy, %x, %c : (tensor<16x8xf32>, tensor<16x16xbf16>, tensor<8xi32>) -> tensor<8x8x16xf32>
  return
}

// -----

func.func @grouped_wgrad_result(%dy: tensor<16x8xf32>, %x: tensor<16x16xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{result weight_grad dimension 0 is 4 but expected 8 from the operands (shape 8x8x16)}}
  %r0 = ds.grouped_linear_wgrad %dy, %x, %c : (tensor<16x8xf32>, tensor<16x16xf32>, tensor<8xi32>) -> tensor<4x8x16xf32>
  return
}

// -----

func.func @swiglu_grad_rank(%gu: tensor<f32>, %dy: tensor<2x4x4xf32>) {
  // expected-error @+1 {{gate_up must have rank at least 1 ([..., 2I]) but has rank 0}}
  %r0 = ds.swiglu_grad %gu, %dy : (tensor<f32>, tensor<2x4x4xf32>) -> tensor<f32>
  return
}

// -----

func.func @swiglu_grad_odd(%gu: tensor<2x4x9xf32>, %dy: tensor<2x4x4xf32>) {
  // expected-error @+1 {{gate_up dimension 2 (gate and up halves) is 9 but must be even}}
  %r0 = ds.swiglu_grad %gu, %dy : (tensor<2x4x9xf32>, tensor<2x4x4xf32>) -> tensor<2x4x9xf32>
  return
}

// -----

func.func @swiglu_grad_result_grad(%gu: tensor<2x4x8xf32>, %dy: tensor<2x4x8xf32>) {
  // expected-error @+1 {{result_grad dimension 2 is 8 but expected 4 from the shape of ds.swiglu's result (shape 2x4x4)}}
  %r0 = ds.swiglu_grad %gu, %dy : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @swiglu_grad_result_grad_element(%gu: tensor<2x4x8xf32>, %dy: tensor<2x4x4xbf16>) {
  // expected-error @+1 {{result_grad element type is 'bf16' but ds.swiglu's result element type is 'f32'}}
  %r0 = ds.swiglu_grad %gu, %dy : (tensor<2x4x8xf32>, tensor<2x4x4xbf16>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @swiglu_grad_result(%gu: tensor<2x4x8xf32>, %dy: tensor<2x4x4xf32>) {
  // expected-error @+1 {{result gate_up_grad dimension 2 is 4 but expected 8 from the operands (shape 2x4x8)}}
  %r0 = ds.swiglu_grad %gu, %dy : (tensor<2x4x8xf32>, tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return
}

// -----

func.func @cross_entropy_grad_rank(%l: tensor<f32>, %t: tensor<i32>, %dl: tensor<f32>) {
  // expected-error @+1 {{logits must have rank at least 1 ([..., V]) but has rank 0}}
  %r0 = ds.cross_entropy_grad %l, %t, %dl : (tensor<f32>, tensor<i32>, tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @cross_entropy_grad_labels(%l: tensor<2x4x32xf32>, %t: tensor<2x4x32xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{labels must have rank 2 (shape 2x4 from logits without its last (vocabulary) dimension) but has rank 3}}
  %r0 = ds.cross_entropy_grad %l, %t, %dl : (tensor<2x4x32xf32>, tensor<2x4x32xi32>, tensor<f32>) -> tensor<2x4x32xf32>
  return
}

// -----

func.func @cross_entropy_grad_result(%l: tensor<2x4x32xf32>, %t: tensor<2x4xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{result logits_grad dimension 2 is 16 but expected 32 from the operands (shape 2x4x32)}}
  %r0 = ds.cross_entropy_grad %l, %t, %dl : (tensor<2x4x32xf32>, tensor<2x4xi32>, tensor<f32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @slice_grad_rank(%dy: tensor<2x4xf32>) {
  // expected-error @+1 {{result input_grad must have rank 2 (the rank of result_grad) but has rank 1}}
  %r0 = ds.slice_grad %dy {dim = 1 : i64, offset = 1 : i64} : (tensor<2x4xf32>) -> tensor<10xf32>
  return
}

// -----

func.func @slice_grad_element(%dy: tensor<2x4xf32>) {
  // expected-error @+1 {{result input_grad element type is 'bf16' but result_grad element type is 'f32'}}
  %r0 = ds.slice_grad %dy {dim = 1 : i64, offset = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x5xbf16>
  return
}

// -----

func.func @slice_grad_offset(%dy: tensor<2x4xf32>) {
  // expected-error @+1 {{attribute 'offset' must be non-negative but is -1}}
  %r0 = ds.slice_grad %dy {dim = 1 : i64, offset = -1 : i64} : (tensor<2x4xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @slice_grad_dim(%dy: tensor<2x4xf32>) {
  // expected-error @+1 {{attribute 'dim' is 2 but result_grad has rank 2}}
  %r0 = ds.slice_grad %dy {dim = 2 : i64, offset = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @slice_grad_other_dim(%dy: tensor<2x4xf32>) {
  // expected-error @+1 {{result input_grad dimension 0 is 3 but result_grad dimension 0 is 2}}
  %r0 = ds.slice_grad %dy {dim = 1 : i64, offset = 1 : i64} : (tensor<2x4xf32>) -> tensor<3x5xf32>
  return
}

// -----

func.func @slice_grad_too_small(%dy: tensor<2x4xf32>) {
  // expected-error @+1 {{result input_grad dimension 1 is 5 but the slice [2, 6) needs at least 6}}
  %r0 = ds.slice_grad %dy {dim = 1 : i64, offset = 2 : i64} : (tensor<2x4xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @expand_grad_rank(%dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result input_grad must have rank 3 (the rank of result_grad) but has rank 2}}
  %r0 = ds.expand_grad %dy : (tensor<2x4x16xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @expand_grad_dim(%dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result input_grad dimension 1 is 2 but must be 1 or result_grad's size 4}}
  %r0 = ds.expand_grad %dy : (tensor<2x4x16xf32>) -> tensor<2x2x16xf32>
  return
}

// -----

func.func @expand_grad_element(%dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result input_grad element type is 'bf16' but result_grad element type is 'f32'}}
  %r0 = ds.expand_grad %dy : (tensor<2x4x16xf32>) -> tensor<2x1x16xbf16>
  return
}
