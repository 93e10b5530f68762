// RUN: ds-opt %s --split-input-file --ds-autodiff -verify-diagnostics

// expected-error @+1 {{ds-autodiff: the module has no func.func @forward}}
module {
  func.func @eval(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{ds-autodiff: @forward has no result marked {ds.output = "loss"} to differentiate}}
func.func @forward(%w: tensor<4x4xf32> {ds.param = "w"}, %labels: tensor<4xi32> {ds.input = "labels"})
    -> (tensor<f32> {ds.output = "loss.main"}) {
  %loss = ds.cross_entropy %w, %labels : (tensor<4x4xf32>, tensor<4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

func.func @forward(%x: tensor<2x3x8xf32> {ds.input = "hidden"},
    %hn: tensor<8xf32> {ds.param = "hnorm"}, %en: tensor<8xf32> {ds.param = "enorm"},
    %p: tensor<8x16xf32> {ds.param = "eh_proj"}, %labels: tensor<6xi32> {ds.input = "labels"})
    -> (tensor<f32> {ds.output = "loss"}) {
  // expected-error @+1 {{'ds.mtp_head' op is a composite op; run ds-decompose before ds-autodiff}}
  %h = ds.mtp_head %x, %x, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64}
      : (tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8x16xf32>) -> tensor<2x3x8xf32>
  %t = ds.reshape %h : (tensor<2x3x8xf32>) -> tensor<6x8xf32>
  %loss = ds.cross_entropy %t, %labels : (tensor<6x8xf32>, tensor<6xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// The router bias is updated from its layer's expert counts, which @forward must return.
// expected-error @+1 {{ds-autodiff: router bias 'model.layers.3.mlp.gate.e_score_correction_bias' has no {ds.output = "expert_counts.3"} result of @forward to update it from}}
func.func @forward(%logits: tensor<6x4xf32> {ds.param = "logits"},
    %bias: tensor<4xf32> {ds.buffer = "model.layers.3.mlp.gate.e_score_correction_bias"})
    -> (tensor<f32> {ds.output = "loss"}) {
  %idx, %w = ds.router %logits, %bias {group_score = "top2_sum", n_group = 1 : i64, norm_topk_prob = true, routed_scale = 1.0 : f64, score_func = "sigmoid", top_k = 2 : i64, topk_group = 1 : i64} : (tensor<6x4xf32>, tensor<4xf32>) -> (tensor<6x2xi32>, tensor<6x2xf32>)
  %loss = ds.balance_loss %logits, %idx {alpha = 1.0e-4 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<6x4xf32>, tensor<6x2xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// An op without a VJP on the path from a parameter to the loss.
func.func @forward(%w: tensor<4x4xf32> {ds.param = "w"}) -> (tensor<f32> {ds.output = "loss"}) {
  // expected-error @+1 {{'ds.grad_norm' op is on the path from the parameters to the loss but has no vector-Jacobian product (DifferentiableOpInterface)}}
  %loss = ds.grad_norm %w : (tensor<4x4xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

func.func @forward(%w: tensor<4x4xf32> {ds.param = "w"}, %labels: tensor<4xi32> {ds.input = "labels"})
    -> (tensor<f32> {ds.output = "loss"}) {
  %loss = ds.cross_entropy %w, %labels : (tensor<4x4xf32>, tensor<4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}
// expected-error @+1 {{ds-autodiff: the module already has a @train_step}}
func.func @train_step() {
  return
}
