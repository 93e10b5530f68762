// RUN: ds-opt %s --split-input-file --ds-fuse | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fuse=optimizer-group-bytes=64 | FileCheck %s --check-prefix=SMALL

// Three parameters' AdamW steps with one set of attributes and scalars: one multi-tensor
// launch, inputs lr, step, grad_norm then (param, grad, exp_avg, exp_avg_sq) per tensor.
// With groups of at most 64 parameter bytes, the 16-float tensors go one by one and the
// two 4-float ones together.

// CHECK-LABEL: dsx.program @adamw
// CHECK: dsx.launch "adamw_multi"(%[[LR:[^,]*]], %[[STEP:[^,]*]], %[[NORM:[^,]*]], %[[P0:[^,]*]], %{{.*}}) -> ({{.*}}) attrs {beta1 = 9.000000e-01 : f64, {{.*}}, weight_decay = 1.000000e-01 : f64} : (memref<f32>, memref<f32>, memref<f32>, memref<16xf32>, memref<16xf32>, memref<16xf32>, memref<16xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>) -> (memref<16xf32>, memref<16xf32>, memref<16xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>)
// CHECK-NOT: "adamw"
// CHECK: dsx.update

// SMALL-LABEL: dsx.program @adamw
// SMALL: dsx.launch "adamw"({{.*}} : (memref<16xf32>,
// SMALL: dsx.launch "adamw_multi"({{.*}} : (memref<f32>, memref<f32>, memref<f32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>) ->
dsx.program @adamw {
  %lr = dsx.buffer input "lr" : memref<f32>
  %step = dsx.buffer input "step" : memref<f32>
  %p0 = dsx.buffer param "p0" {init = "normal"} : memref<16xf32>
  %p1 = dsx.buffer param "p1" {init = "normal"} : memref<4xf32>
  %p2 = dsx.buffer param "p2" {init = "normal"} : memref<4xf32>
  %m0 = dsx.buffer state "exp_avg.p0" : memref<16xf32>
  %v0 = dsx.buffer state "exp_avg_sq.p0" : memref<16xf32>
  %m1 = dsx.buffer state "exp_avg.p1" : memref<4xf32>
  %v1 = dsx.buffer state "exp_avg_sq.p1" : memref<4xf32>
  %m2 = dsx.buffer state "exp_avg.p2" : memref<4xf32>
  %v2 = dsx.buffer state "exp_avg_sq.p2" : memref<4xf32>
  %g0 = dsx.buffer temporary : memref<16xf32>
  dsx.launch "scale"(%p0) -> (%g0) attrs {factor = 2.0 : f64} : (memref<16xf32>) -> memref<16xf32>
  %g1 = dsx.buffer temporary : memref<4xf32>
  dsx.launch "scale"(%p1) -> (%g1) attrs {factor = 2.0 : f64} : (memref<4xf32>) -> memref<4xf32>
  %g2 = dsx.buffer temporary : memref<4xf32>
  dsx.launch "scale"(%p2) -> (%g2) attrs {factor = 2.0 : f64} : (memref<4xf32>) -> memref<4xf32>
  %norm = dsx.buffer output "grad_norm" : memref<f32>
  dsx.launch "grad_norm"(%g0, %g1, %g2) -> (%norm) attrs {} : (memref<16xf32>, memref<4xf32>, memref<4xf32>) -> memref<f32>
  %np0 = dsx.buffer temporary : memref<16xf32>
  %nm0 = dsx.buffer temporary : memref<16xf32>
  %nv0 = dsx.buffer temporary : memref<16xf32>
  dsx.launch "adamw"(%p0, %g0, %m0, %v0, %lr, %step, %norm) -> (%np0, %nm0, %nv0) attrs {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-8 : f64, max_grad_norm = 1.0 : f64, weight_decay = 0.1 : f64} : (memref<16xf32>, memref<16xf32>, memref<16xf32>, memref<16xf32>, memref<f32>, memref<f32>, memref<f32>) -> (memref<16xf32>, memref<16xf32>, memref<16xf32>)
  %np1 = dsx.buffer temporary : memref<4xf32>
  %nm1 = dsx.buffer temporary : memref<4xf32>
  %nv1 = dsx.buffer temporary : memref<4xf32>
  dsx.launch "adamw"(%p1, %g1, %m1, %v1, %lr, %step, %norm) -> (%np1, %nm1, %nv1) attrs {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-8 : f64, max_grad_norm = 1.0 : f64, weight_decay = 0.1 : f64} : (memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<f32>, memref<f32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>)
  %np2 = dsx.buffer temporary : memref<4xf32>
  %nm2 = dsx.buffer temporary : memref<4xf32>
  %nv2 = dsx.buffer temporary : memref<4xf32>
  dsx.launch "adamw"(%p2, %g2, %m2, %v2, %lr, %step, %norm) -> (%np2, %nm2, %nv2) attrs {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-8 : f64, max_grad_norm = 1.0 : f64, weight_decay = 0.1 : f64} : (memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<f32>, memref<f32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>)
  dsx.update %np0 to %p0 : memref<16xf32>
  dsx.update %nm0 to %m0 : memref<16xf32>
  dsx.update %nv0 to %v0 : memref<16xf32>
  dsx.update %np1 to %p1 : memref<4xf32>
  dsx.update %nm1 to %m1 : memref<4xf32>
  dsx.update %nv1 to %v1 : memref<4xf32>
  dsx.update %np2 to %p2 : memref<4xf32>
  dsx.update %nm2 to %m2 : memref<4xf32>
  dsx.update %nv2 to %v2 : memref<4xf32>
}

// -----

// AdamW steps with different attributes (here weight decay) update in separate groups; a
// group of one stays a plain adamw. Router-bias updates of one gamma become one launch.

// CHECK-LABEL: dsx.program @groups
// CHECK-COUNT-2: dsx.launch "adamw"(
// CHECK: dsx.launch "bias_update_multi"(%[[B0:[^,]*]], %[[C0:[^,]*]], %[[B1:[^,]*]], %[[C1:[^)]*]]) -> (%{{.*}}, %{{.*}}) attrs {gamma = 1.000000e-03 : f64}
// CHECK-NOT: "bias_update"(
dsx.program @groups {
  %lr = dsx.buffer input "lr" : memref<f32>
  %step = dsx.buffer input "step" : memref<f32>
  %norm = dsx.buffer input "norm" : memref<f32>
  %p0 = dsx.buffer param "p0" {init = "normal"} : memref<4xf32>
  %p1 = dsx.buffer param "p1" {init = "normal"} : memref<4xf32>
  %m0 = dsx.buffer state "exp_avg.p0" : memref<4xf32>
  %v0 = dsx.buffer state "exp_avg_sq.p0" : memref<4xf32>
  %m1 = dsx.buffer state "exp_avg.p1" : memref<4xf32>
  %v1 = dsx.buffer state "exp_avg_sq.p1" : memref<4xf32>
  %b0 = dsx.buffer buffer "b0" : memref<8xf32>
  %b1 = dsx.buffer buffer "b1" : memref<8xf32>
  %c0 = dsx.buffer input "c0" : memref<8xi32>
  %c1 = dsx.buffer input "c1" : memref<8xi32>
  %np0 = dsx.buffer temporary : memref<4xf32>
  %nm0 = dsx.buffer temporary : memref<4xf32>
  %nv0 = dsx.buffer temporary : memref<4xf32>
  dsx.launch "adamw"(%p0, %p0, %m0, %v0, %lr, %step, %norm) -> (%np0, %nm0, %nv0) attrs {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-8 : f64, max_grad_norm = 1.0 : f64, weight_decay = 0.1 : f64} : (memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<f32>, memref<f32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>)
  %np1 = dsx.buffer temporary : memref<4xf32>
  %nm1 = dsx.buffer temporary : memref<4xf32>
  %nv1 = dsx.buffer temporary : memref<4xf32>
  dsx.launch "adamw"(%p1, %p1, %m1, %v1, %lr, %step, %norm) -> (%np1, %nm1, %nv1) attrs {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-8 : f64, max_grad_norm = 1.0 : f64, weight_decay = 0.0 : f64} : (memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<f32>, memref<f32>) -> (memref<4xf32>, memref<4xf32>, memref<4xf32>)
  %nb0 = dsx.buffer temporary : memref<8xf32>
  dsx.launch "bias_update"(%b0, %c0) -> (%nb0) attrs {gamma = 1.0e-3 : f64} : (memref<8xf32>, memref<8xi32>) -> memref<8xf32>
  %nb1 = dsx.buffer temporary : memref<8xf32>
  dsx.launch "bias_update"(%b1, %c1) -> (%nb1) attrs {gamma = 1.0e-3 : f64} : (memref<8xf32>, memref<8xi32>) -> memref<8xf32>
  dsx.update %np0 to %p0 : memref<4xf32>
  dsx.update %nm0 to %m0 : memref<4xf32>
  dsx.update %nv0 to %v0 : memref<4xf32>
  dsx.update %np1 to %p1 : memref<4xf32>
  dsx.update %nm1 to %m1 : memref<4xf32>
  dsx.update %nv1 to %v1 : memref<4xf32>
  dsx.update %nb0 to %b0 : memref<8xf32>
  dsx.update %nb1 to %b1 : memref<8xf32>
}
