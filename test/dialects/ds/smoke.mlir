// RUN: ds-opt %s | ds-opt | FileCheck %s

// CHECK-LABEL: func @norm
// CHECK: ds.rms_norm %{{.*}}, %{{.*}} {eps = {{.*}} : f64}
func.func @norm(%x: tensor<2x4x8xf32>, %w: tensor<8xf32>) -> tensor<2x4x8xf32> {
  %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}
