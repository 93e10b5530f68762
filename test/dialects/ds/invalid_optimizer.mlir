// Every verifier rule of the optimizer ops has a case here.
// RUN: ds-opt %s -split-input-file -verify-diagnostics

// -----

func.func @grad_norm_empty() {
  // expected-error @+1 {{needs at least one gradient}}
  %n = ds.grad_norm : () -> tensor<f32>
  return
}

// -----

func.func @grad_norm_dynamic(%a: tensor<?x16xf32>) {
  // expected-error @+1 {{grads[0] must have a static shape but has type 'tensor<?x16xf32>'}}
  %n = ds.grad_norm %a : (tensor<?x16xf32>) -> tensor<f32>
  return
}

// -----

func.func @adamw_grad_shape(%p: tensor<8x16xf32>, %g: tensor<16x8xf32>, %m: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{grad dimension 0 is 16 but expected 8 from the shape of param (shape 8x16)}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-08 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<16x8xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>)
  return
}

// -----

func.func @adamw_exp_avg_shape(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x8xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{exp_avg dimension 1 is 8 but expected 16 from the shape of param (shape 8x16)}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-08 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x8xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x8xbf16>, tensor<8x16xbf16>)
  return
}

// -----

func.func @adamw_exp_avg_sq_shape(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x16xbf16>, %v: tensor<128xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{exp_avg_sq must have rank 2 (shape 8x16 from the shape of param) but has rank 1}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-08 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<128xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<128xbf16>)
  return
}

// -----

func.func @adamw_beta1(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{attribute 'beta1' must be in [0, 1) but is 1}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 1.0 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-08 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>)
  return
}

// -----

func.func @adamw_beta2(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{attribute 'beta2' must be in [0, 1) but is -0.5}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = -0.5 : f64, epsilon = 1.0e-08 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>)
  return
}

// -----

func.func @adamw_epsilon(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{attribute 'epsilon' must be positive but is 0}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 0.0 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>)
  return
}

// -----

func.func @adamw_weight_decay(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{attribute 'weight_decay' must be non-negative but is -0.1}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-08 : f64, weight_decay = -0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>)
  return
}

// -----

func.func @adamw_moment_result(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) {
  // expected-error @+1 {{result new_exp_avg element type is 'f32' but the operands imply 'bf16'}}
  %r0, %r1, %r2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-08 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>)
  return
}

// -----

func.func @bias_update_rank(%b: tensor<2x4xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{bias must have rank 1 ([E]) but has rank 2}}
  %r0 = ds.bias_update %b, %c {gamma = 1.0e-03 : f64} : (tensor<2x4xf32>, tensor<8xi32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @bias_update_counts_rank(%b: tensor<8xf32>, %c: tensor<2x4xi32>) {
  // expected-error @+1 {{counts must have rank 1 ([E]) but has rank 2}}
  %r0 = ds.bias_update %b, %c {gamma = 1.0e-03 : f64} : (tensor<8xf32>, tensor<2x4xi32>) -> tensor<8xf32>
  return
}

// -----

func.func @bias_update_counts_size(%b: tensor<8xf32>, %c: tensor<4xi32>) {
  // expected-error @+1 {{counts dimension 0 (experts) is 4 but bias dimension 0 (experts) is 8}}
  %r0 = ds.bias_update %b, %c {gamma = 1.0e-03 : f64} : (tensor<8xf32>, tensor<4xi32>) -> tensor<8xf32>
  return
}

// -----

func.func @bias_update_gamma(%b: tensor<8xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{attribute 'gamma' must be non-negative but is -0.001}}
  %r0 = ds.bias_update %b, %c {gamma = -1.0e-03 : f64} : (tensor<8xf32>, tensor<8xi32>) -> tensor<8xf32>
  return
}

// -----

func.func @bias_update_result(%b: tensor<8xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{result new_bias dimension 0 is 4 but expected 8 from the operands (shape 8)}}
  %r0 = ds.bias_update %b, %c {gamma = 1.0e-03 : f64} : (tensor<8xf32>, tensor<8xi32>) -> tensor<4xf32>
  return
}
