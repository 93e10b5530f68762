// RUN: ds-opt %s --split-input-file --ds-fuse | FileCheck %s

// A pre-norm residual step: the sum goes on down the residual stream and into the norm;
// add_rms_norm writes both.

// CHECK-LABEL: dsx.program @residual_norm
// CHECK: %[[X:.*]] = dsx.buffer input "x" : memref<2x8xf32>
// CHECK: %[[H:.*]] = dsx.buffer input "h" : memref<2x8xf32>
// CHECK: %[[W:.*]] = dsx.buffer param "w" {init = "ones"} : memref<8xf32>
// CHECK: %[[SUM:.*]] = dsx.buffer temporary : memref<2x8xf32>
// CHECK: dsx.launch "add_rms_norm"(%[[X]], %[[H]], %[[W]]) -> (%[[SUM]], %{{.*}}) attrs {eps = 9.9999999999999995E-7 : f64} : (memref<2x8xf32>, memref<2x8xf32>, memref<8xf32>) -> (memref<2x8xf32>, memref<2x8xf32>)
// CHECK-NOT: "rms_norm"
// CHECK: dsx.launch "scale"(%[[SUM]])
dsx.program @residual_norm {
  %x = dsx.buffer input "x" : memref<2x8xf32>
  %h = dsx.buffer input "h" : memref<2x8xf32>
  %w = dsx.buffer param "w" {init = "ones"} : memref<8xf32>
  %sum = dsx.buffer temporary : memref<2x8xf32>
  dsx.launch "add"(%x, %h) -> (%sum) attrs {} : (memref<2x8xf32>, memref<2x8xf32>) -> memref<2x8xf32>
  %y = dsx.buffer output "y" : memref<2x8xf32>
  dsx.launch "rms_norm"(%sum, %w) -> (%y) attrs {eps = 1.0e-6 : f64} : (memref<2x8xf32>, memref<8xf32>) -> memref<2x8xf32>
  %z = dsx.buffer output "z" : memref<2x8xf32>
  dsx.launch "scale"(%sum) -> (%z) attrs {factor = 2.0 : f64} : (memref<2x8xf32>) -> memref<2x8xf32>
}

// -----

// The norm's input gradient joins the residual stream's gradient; the add may take them
// in either order.

// CHECK-LABEL: dsx.program @residual_norm_grad
// CHECK: %[[R:.*]] = dsx.buffer input "r" : memref<2x8xf32>
// CHECK-COUNT-2: dsx.launch "rms_norm_grad_add"(%{{.*}}, %{{.*}}, %{{.*}}, %[[R]]) -> (%{{.*}}, %{{.*}}) attrs {eps = 9.9999999999999995E-7 : f64}
// CHECK-NOT: "add"
dsx.program @residual_norm_grad {
  %x = dsx.buffer input "x" : memref<2x8xf32>
  %dy = dsx.buffer input "dy" : memref<2x8xf32>
  %r = dsx.buffer input "r" : memref<2x8xf32>
  %w = dsx.buffer param "w" {init = "ones"} : memref<8xf32>
  %dx = dsx.buffer temporary : memref<2x8xf32>
  %dw = dsx.buffer output "dw" : memref<8xf32>
  dsx.launch "rms_norm_grad"(%x, %w, %dy) -> (%dx, %dw) attrs {eps = 1.0e-6 : f64} : (memref<2x8xf32>, memref<8xf32>, memref<2x8xf32>) -> (memref<2x8xf32>, memref<8xf32>)
  %sum = dsx.buffer output "sum" : memref<2x8xf32>
  dsx.launch "add"(%r, %dx) -> (%sum) attrs {} : (memref<2x8xf32>, memref<2x8xf32>) -> memref<2x8xf32>
  %dx2 = dsx.buffer temporary : memref<2x8xf32>
  %dw2 = dsx.buffer output "dw2" : memref<8xf32>
  dsx.launch "rms_norm_grad"(%x, %w, %dy) -> (%dx2, %dw2) attrs {eps = 1.0e-6 : f64} : (memref<2x8xf32>, memref<8xf32>, memref<2x8xf32>) -> (memref<2x8xf32>, memref<8xf32>)
  %sum2 = dsx.buffer output "sum2" : memref<2x8xf32>
  dsx.launch "add"(%dx2, %r) -> (%sum2) attrs {} : (memref<2x8xf32>, memref<2x8xf32>) -> memref<2x8xf32>
}

// -----

// Negative cases: the input gradient is read by another launch too; it is bf16 (stored
// rounded before the add, which the fused kernel would skip); the norm reads a sum that
// no add wrote.

// CHECK-LABEL: dsx.program @input_grad_read_twice
// CHECK-NOT: rms_norm_grad_add
// CHECK-LABEL: dsx.program @bf16_input_grad
// CHECK-NOT: rms_norm_grad_add
// CHECK-LABEL: dsx.program @norm_of_a_scale
// CHECK-NOT: add_rms_norm
dsx.program @input_grad_read_twice {
  %x = dsx.buffer input "x" : memref<2x8xf32>
  %dy = dsx.buffer input "dy" : memref<2x8xf32>
  %r = dsx.buffer input "r" : memref<2x8xf32>
  %w = dsx.buffer param "w" {init = "ones"} : memref<8xf32>
  %dx = dsx.buffer temporary : memref<2x8xf32>
  %dw = dsx.buffer output "dw" : memref<8xf32>
  dsx.launch "rms_norm_grad"(%x, %w, %dy) -> (%dx, %dw) attrs {eps = 1.0e-6 : f64} : (memref<2x8xf32>, memref<8xf32>, memref<2x8xf32>) -> (memref<2x8xf32>, memref<8xf32>)
  %sum = dsx.buffer output "sum" : memref<2x8xf32>
  dsx.launch "add"(%r, %dx) -> (%sum) attrs {} : (memref<2x8xf32>, memref<2x8xf32>) -> memref<2x8xf32>
  %again = dsx.buffer output "again" : memref<2x8xf32>
  dsx.launch "scale"(%dx) -> (%again) attrs {factor = 2.0 : f64} : (memref<2x8xf32>) -> memref<2x8xf32>
}
dsx.program @bf16_input_grad {
  %x = dsx.buffer input "x" : memref<2x8xf32>
  %dy = dsx.buffer input "dy" : memref<2x8xf32>
  %r = dsx.buffer input "r" : memref<2x8xf32>
  %w = dsx.buffer param "w" {init = "ones"} : memref<8xf32>
  %dx = dsx.buffer temporary : memref<2x8xbf16>
  %dw = dsx.buffer output "dw" : memref<8xf32>
  dsx.launch "rms_norm_grad"(%x, %w, %dy) -> (%dx, %dw) attrs {eps = 1.0e-6 : f64} : (memref<2x8xf32>, memref<8xf32>, memref<2x8xf32>) -> (memref<2x8xbf16>, memref<8xf32>)
  %sum = dsx.buffer output "sum" : memref<2x8xf32>
  dsx.launch "add"(%r, %dx) -> (%sum) attrs {} : (memref<2x8xf32>, memref<2x8xbf16>) -> memref<2x8xf32>
}
dsx.program @norm_of_a_scale {
  %x = dsx.buffer input "x" : memref<2x8xf32>
  %w = dsx.buffer param "w" {init = "ones"} : memref<8xf32>
  %scaled = dsx.buffer temporary : memref<2x8xf32>
  dsx.launch "scale"(%x) -> (%scaled) attrs {factor = 2.0 : f64} : (memref<2x8xf32>) -> memref<2x8xf32>
  %y = dsx.buffer output "y" : memref<2x8xf32>
  dsx.launch "rms_norm"(%scaled, %w) -> (%y) attrs {eps = 1.0e-6 : f64} : (memref<2x8xf32>, memref<8xf32>) -> memref<2x8xf32>
}
