// RUN: ds-opt %s --split-input-file --ds-lower-to-exec | FileCheck %s

// A small step: arguments become named buffers by role, each ds op one launch named after
// it with its attributes (defaults filled in), the loss seed a "fill" launch, outputs and
// updates bound by name.

// CHECK-LABEL: dsx.program @train_step
// CHECK-DAG: %[[TOK:.*]] = dsx.buffer input "tokens" : memref<2x5xi32>
// CHECK-DAG: %[[W:.*]] = dsx.buffer param "model.norm.weight" {init = "ones"} : memref<8xf32>
// CHECK-DAG: %[[M:.*]] = dsx.buffer state "exp_avg.model.norm.weight" : memref<8xf32>
// CHECK-DAG: %[[BIAS:.*]] = dsx.buffer buffer "model.layers.0.mlp.gate.e_score_correction_bias" : memref<4xf32>
// CHECK-DAG: %[[LR:.*]] = dsx.buffer input "lr" : memref<f32>
// CHECK-DAG: %[[X:.*]] = dsx.buffer input "hidden" : memref<2x4x8xf32>
// CHECK: %[[SLICE:.*]] = dsx.buffer temporary : memref<2x4xi32>
// CHECK: dsx.launch "slice"(%[[TOK]]) -> (%[[SLICE]]) attrs {dim = 1 : i64, offset = 0 : i64, size = 4 : i64}
// CHECK: %[[H:.*]] = dsx.buffer temporary : memref<2x4x8xf32>
// CHECK: dsx.launch "rms_norm"(%[[X]], %[[W]]) -> (%[[H]]) attrs {eps = 9.9999999999999995E-7 : f64}
// CHECK: %[[LOSS:.*]] = dsx.buffer output "loss" : memref<f32>
// CHECK: dsx.launch "cross_entropy"(%{{.*}}, %[[SLICE]]) -> (%[[LOSS]]) attrs {ignore_index = -100 : i64}
// CHECK: %[[SEED:.*]] = dsx.buffer temporary : memref<f32>
// CHECK: dsx.launch "fill"() -> (%[[SEED]]) attrs {value = 1.000000e+00 : f64}
// CHECK: %[[DW:.*]] = dsx.buffer temporary : memref<8xf32>
// CHECK-NEXT: dsx.launch "scale"(%[[W]]) -> (%[[DW]]) attrs {factor = 2.000000e+00 : f64}
// CHECK-NEXT: %[[NEWW:.*]] = dsx.buffer temporary : memref<8xf32>
// CHECK-NEXT: dsx.launch "add"(%[[W]], %[[DW]]) -> (%[[NEWW]]) attrs {}
// CHECK-NEXT: %[[NEWM:.*]] = dsx.buffer temporary : memref<8xf32>
// CHECK-NEXT: dsx.launch "mul"(%[[M]], %[[DW]]) -> (%[[NEWM]]) attrs {}
// CHECK: %[[Q:.*]] = dsx.buffer temporary : memref<2x4x2x4xf32>
// CHECK-NEXT: dsx.launch "reshape"(%[[H]]) -> (%[[Q]])
// CHECK: %[[ATT:.*]] = dsx.buffer output "attention" : memref<2x4x2x4xf32>
// CHECK-NEXT: dsx.launch "attention"(%[[Q]], %[[Q]], %[[Q]]) -> (%[[ATT]]) attrs {causal = true, scale = 5.000000e-01 : f64}
// CHECK: dsx.update %[[NEWW]] to %[[W]] : memref<8xf32>
// CHECK-NEXT: dsx.update %[[NEWM]] to %[[M]] : memref<8xf32>
// CHECK-NOT: dsx.update
// CHECK-NEXT: }
// CHECK-NOT: func.func @train_step
// CHECK: func.func @forward
func.func @train_step(%tokens: tensor<2x5xi32> {ds.input = "tokens"},
                      %w: tensor<8xf32> {ds.param = "model.norm.weight", ds.init = "ones"},
                      %bias: tensor<4xf32> {ds.buffer = "model.layers.0.mlp.gate.e_score_correction_bias"},
                      %m: tensor<8xf32> {ds.state = "exp_avg.model.norm.weight"},
                      %lr: tensor<f32> {ds.input = "lr"},
                      %x: tensor<2x4x8xf32> {ds.input = "hidden"})
    -> (tensor<f32> {ds.output = "loss"}, tensor<8xf32> {ds.update = "model.norm.weight"},
        tensor<8xf32> {ds.update = "exp_avg.model.norm.weight"},
        tensor<4xf32> {ds.update = "model.layers.0.mlp.gate.e_score_correction_bias"},
        tensor<2x4x2x4xf32> {ds.output = "attention"}) {
  %labels = ds.slice %tokens {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  %h = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %loss = ds.cross_entropy %h, %labels : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<f32>
  %seed = arith.constant dense<1.0> : tensor<f32>
  %dw = ds.scale %w {factor = 2.0 : f64} : (tensor<8xf32>) -> tensor<8xf32>
  %neww = ds.add %w, %dw : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %newm = ds.mul %m, %dw : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %q = ds.reshape %h : (tensor<2x4x8xf32>) -> tensor<2x4x2x4xf32>
  %a = ds.attention %q, %q, %q {scale = 0.5 : f64} : (tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return %loss, %neww, %newm, %bias, %a : tensor<f32>, tensor<8xf32>, tensor<8xf32>, tensor<4xf32>, tensor<2x4x2x4xf32>
}
func.func @forward(%x: tensor<8xf32> {ds.input = "x"}) -> (tensor<8xf32> {ds.output = "y"}) {
  return %x : tensor<8xf32>
}

// -----

// The same value returned under two output names, and an argument returned as an output:
// the first name is written by the producing launch, the others are copies.

// CHECK-LABEL: dsx.program @train_step
// CHECK: %[[X:.*]] = dsx.buffer input "x" : memref<4xf32>
// CHECK: %[[LOSS:.*]] = dsx.buffer output "loss" : memref<f32>
// CHECK-NEXT: dsx.launch "cross_entropy"(%{{.*}}, %{{.*}}) -> (%[[LOSS]])
// CHECK: %[[MAIN:.*]] = dsx.buffer output "loss.main" : memref<f32>
// CHECK-NEXT: dsx.launch "copy"(%[[LOSS]]) -> (%[[MAIN]]) attrs {}
// CHECK: %[[ECHO:.*]] = dsx.buffer output "x.echo" : memref<4xf32>
// CHECK-NEXT: dsx.launch "copy"(%[[X]]) -> (%[[ECHO]]) attrs {}
func.func @train_step(%x: tensor<4xf32> {ds.input = "x"}, %labels: tensor<1xi32> {ds.input = "labels"})
    -> (tensor<f32> {ds.output = "loss"}, tensor<f32> {ds.output = "loss.main"},
        tensor<4xf32> {ds.output = "x.echo"}) {
  %logits = ds.reshape %x : (tensor<4xf32>) -> tensor<1x4xf32>
  %loss = ds.cross_entropy %logits, %labels {ignore_index = 3 : i64} : (tensor<1x4xf32>, tensor<1xi32>) -> tensor<f32>
  return %loss, %loss, %x : tensor<f32>, tensor<f32>, tensor<4xf32>
}
