// Round trip of the backward ops emitted by ds-autodiff.
// RUN: ds-opt %s | ds-opt | FileCheck %s

// CHECK-LABEL: func.func @embedding_grad(
// CHECK: %{{.*}} = ds.embedding_grad %{{.*}}, %{{.*}} : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<32x16xf32>
func.func @embedding_grad(%ids: tensor<2x4xi32>, %dy: tensor<2x4x16xf32>) -> tensor<32x16xf32> {
  %g = ds.embedding_grad %ids, %dy : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<32x16xf32>
  return %g : tensor<32x16xf32>
}

// CHECK-LABEL: func.func @rms_norm_grad(
// CHECK: %{{.*}}, %{{.*}} = ds.rms_norm_grad %{{.*}}, %{{.*}}, %{{.*}} {eps = 9.9999999999999995E-7 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>)
func.func @rms_norm_grad(%x: tensor<2x4x16xf32>, %w: tensor<16xf32>, %dy: tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>) {
  %dx, %dw = ds.rms_norm_grad %x, %w, %dy {eps = 1.0e-06 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>)
  return %dx, %dw : tensor<2x4x16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @linear_grads(
// CHECK: %{{.*}} = ds.linear_dgrad %{{.*}}, %{{.*}} : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
// CHECK: %{{.*}} = ds.linear_wgrad %{{.*}}, %{{.*}} : (tensor<2x4x8xf32>, tensor<2x4x16xf32>) -> tensor<8x16xf32>
func.func @linear_grads(%dy: tensor<2x4x8xf32>, %w: tensor<8x16xf32>, %x: tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<8x16xf32>) {
  %dx = ds.linear_dgrad %dy, %w : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  %dw = ds.linear_wgrad %dy, %x : (tensor<2x4x8xf32>, tensor<2x4x16xf32>) -> tensor<8x16xf32>
  return %dx, %dw : tensor<2x4x16xf32>, tensor<8x16xf32>
}

// CHECK-LABEL: func.func @rope_grad(
// CHECK: %{{.*}} = ds.rope_grad %{{.*}} {interleaved = true, theta = 1.000000e+04 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
func.func @rope_grad(%dy: tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32> {
  %dx = ds.rope_grad %dy {theta = 10000.0 : f64, interleaved = true} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return %dx : tensor<2x4x2x8xf32>
}

// CHECK-LABEL: func.func @attention_grad(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = ds.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {scale = 0.40824829000000001 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
func.func @attention_grad(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>, %o: tensor<2x4x2x4xf32>, %do: tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) {
  %dq, %dk, %dv = ds.attention_grad %q, %k, %v, %o, %do {scale = 0.40824829 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  return %dq, %dk, %dv : tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>
}

// CHECK-LABEL: func.func @router_grads(
// CHECK: %{{.*}} = ds.router_grad %{{.*}}, %{{.*}}, %{{.*}} {norm_topk_prob = true, routed_scale = 2.500000e+00 : f64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x8xf32>
// CHECK: %{{.*}} = ds.balance_loss_grad %{{.*}}, %{{.*}}, %{{.*}} {alpha = 1.000000e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<f32>) -> tensor<8x8xf32>
func.func @router_grads(%logits: tensor<8x8xf32>, %i: tensor<8x2xi32>, %dw: tensor<8x2xf32>, %dl: tensor<f32>) -> (tensor<8x8xf32>, tensor<8x8xf32>) {
  %g = ds.router_grad %logits, %i, %dw {score_func = "sigmoid", norm_topk_prob = true, routed_scale = 2.5 : f64} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> tensor<8x8xf32>
  %b = ds.balance_loss_grad %logits, %i, %dl {alpha = 1.0e-04 : f64, num_sequences = 2 : i64, score_func = "sigmoid"} : (tensor<8x8xf32>, tensor<8x2xi32>, tensor<f32>) -> tensor<8x8xf32>
  return %g, %b : tensor<8x8xf32>, tensor<8x8xf32>
}

// CHECK-LABEL: func.func @permute_grads(
// CHECK: %{{.*}}, %{{.*}} = ds.combine_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<8x16xf32>, tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<16x16xf32>, tensor<8x2xf32>)
// CHECK: %{{.*}} = ds.dispatch_grad %{{.*}}, %{{.*}} : (tensor<16x16xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
func.func @permute_grads(%dy: tensor<8x16xf32>, %rows: tensor<16x16xf32>, %pos: tensor<8x2xi32>, %w: tensor<8x2xf32>) -> (tensor<8x16xf32>, tensor<8x2xf32>) {
  %drows, %dw = ds.combine_grad %dy, %rows, %pos, %w : (tensor<8x16xf32>, tensor<16x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<16x16xf32>, tensor<8x2xf32>)
  %dx = ds.dispatch_grad %drows, %pos : (tensor<16x16xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return %dx, %dw : tensor<8x16xf32>, tensor<8x2xf32>
}

// CHECK-LABEL: func.func @grouped_linear_grads(
// CHECK: %{{.*}} = ds.grouped_linear_dgrad %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x8xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x16xf32>
// CHECK: %{{.*}} = ds.grouped_linear_wgrad %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x8xf32>, tensor<16x16xf32>, tensor<8xi32>) -> tensor<8x8x16xf32>
func.func @grouped_linear_grads(%dy: tensor<16x8xf32>, %w: tensor<8x8x16xf32>, %x: tensor<16x16xf32>, %counts: tensor<8xi32>) -> (tensor<16x16xf32>, tensor<8x8x16xf32>) {
  %dx = ds.grouped_linear_dgrad %dy, %w, %counts : (tensor<16x8xf32>, tensor<8x8x16xf32>, tensor<8xi32>) -> tensor<16x16xf32>
  %dw = ds.grouped_linear_wgrad %dy, %x, %counts : (tensor<16x8xf32>, tensor<16x16xf32>, tensor<8xi32>) -> tensor<8x8x16xf32>
  return %dx, %dw : tensor<16x16xf32>, tensor<8x8x16xf32>
}

// CHECK-LABEL: func.func @swiglu_grad(
// CHECK: %{{.*}} = ds.swiglu_grad %{{.*}}, %{{.*}} : (tensor<2x4x8xf32>, tensor<2x4x4xf32>) -> tensor<2x4x8xf32>
func.func @swiglu_grad(%gu: tensor<2x4x8xf32>, %dy: tensor<2x4x4xf32>) -> tensor<2x4x8xf32> {
  %g = ds.swiglu_grad %gu, %dy : (tensor<2x4x8xf32>, tensor<2x4x4xf32>) -> tensor<2x4x8xf32>
  return %g : tensor<2x4x8xf32>
}

// CHECK-LABEL: func.func @cross_entropy_grad(
// CHECK: %{{.*}} = ds.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x4x32xf32>, tensor<2x4xi32>, tensor<f32>) -> tensor<2x4x32xf32>
func.func @cross_entropy_grad(%logits: tensor<2x4x32xf32>, %labels: tensor<2x4xi32>, %dl: tensor<f32>) -> tensor<2x4x32xf32> {
  %g = ds.cross_entropy_grad %logits, %labels, %dl : (tensor<2x4x32xf32>, tensor<2x4xi32>, tensor<f32>) -> tensor<2x4x32xf32>
  return %g : tensor<2x4x32xf32>
}

// CHECK-LABEL: func.func @slice_grad(
// CHECK: %{{.*}} = ds.slice_grad %{{.*}} {dim = 1 : i64, offset = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x5xf32>
func.func @slice_grad(%dy: tensor<2x4xf32>) -> tensor<2x5xf32> {
  %g = ds.slice_grad %dy {dim = 1 : i64, offset = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x5xf32>
  return %g : tensor<2x5xf32>
}

// CHECK-LABEL: func.func @expand_grad(
// CHECK: %{{.*}} = ds.expand_grad %{{.*}} : (tensor<2x4x16xf32>) -> tensor<2x1x16xf32>
func.func @expand_grad(%dy: tensor<2x4x16xf32>) -> tensor<2x1x16xf32> {
  %g = ds.expand_grad %dy : (tensor<2x4x16xf32>) -> tensor<2x1x16xf32>
  return %g : tensor<2x1x16xf32>
}
