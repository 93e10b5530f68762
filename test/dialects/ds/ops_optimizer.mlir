// Round trip of the optimizer and training-step ops.
// RUN: ds-opt %s | ds-opt | FileCheck %s

// CHECK-LABEL: func.func @grad_norm(
// CHECK: %{{.*}} = ds.grad_norm %{{.*}}, %{{.*}} : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<f32>
func.func @grad_norm(%a: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<f32> {
  %n = ds.grad_norm %a, %b : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<f32>
  return %n : tensor<f32>
}

// CHECK-LABEL: func.func @adamw(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = ds.adamw %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {beta1 = 9.000000e-01 : f64, beta2 = 0.94999999999999996 : f64, epsilon = 1.000000e-08 : f64, max_grad_norm = 1.000000e+00 : f64, weight_decay = 1.000000e-01 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>)
// FP32 master weight with BF16 moments (V3 report §3.3.3).
func.func @adamw(%p: tensor<8x16xf32>, %g: tensor<8x16xf32>, %m: tensor<8x16xbf16>, %v: tensor<8x16xbf16>, %lr: tensor<f32>, %step: tensor<f32>, %norm: tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>) {
  %p2, %m2, %v2 = ds.adamw %p, %g, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-08 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>)
  return %p2, %m2, %v2 : tensor<8x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>
}

// CHECK-LABEL: func.func @bias_update(
// CHECK: %{{.*}} = ds.bias_update %{{.*}}, %{{.*}} {gamma = 1.000000e-03 : f64} : (tensor<8xf32>, tensor<8xi32>) -> tensor<8xf32>
func.func @bias_update(%b: tensor<8xf32>, %counts: tensor<8xi32>) -> tensor<8xf32> {
  %b2 = ds.bias_update %b, %counts {gamma = 1.0e-03 : f64} : (tensor<8xf32>, tensor<8xi32>) -> tensor<8xf32>
  return %b2 : tensor<8xf32>
}
