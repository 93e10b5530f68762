// RUN: ds-opt %s --ds-lower-to-exec=entry=forward | FileCheck %s

// An evaluation plan: @forward lowered, @train_step left alone; integer splats fill too.

// CHECK: func.func @train_step
// CHECK: dsx.program @forward
// CHECK: %[[Z:.*]] = dsx.buffer output "zeros" : memref<3xi32>
// CHECK-NEXT: dsx.launch "fill"() -> (%[[Z]]) attrs {value = 7.000000e+00 : f64}
func.func @train_step(%x: tensor<3xi32> {ds.input = "x"}) -> (tensor<3xi32> {ds.output = "y"}) {
  return %x : tensor<3xi32>
}
func.func @forward() -> (tensor<3xi32> {ds.output = "zeros"}) {
  %c = arith.constant dense<7> : tensor<3xi32>
  return %c : tensor<3xi32>
}
