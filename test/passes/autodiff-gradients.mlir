// RUN: ds-opt %s --ds-autodiff=gradients-only | FileCheck %s
// RUN: ds-opt %s --ds-autodiff="gradients-only keep-forward=false" | FileCheck %s --check-prefix=NOFWD
// RUN: ds-opt %s --ds-autodiff=gradients-only --ds-lower-to-exec=entry=gradients | FileCheck %s --check-prefix=LOWER

// @gradients keeps @forward's arguments exactly (no optimizer state, no lr or step),
// returns @forward's results and then one grad.<P> per parameter in argument order; the
// parameter the loss does not reach gets zeros. No optimizer or bias update is built,
// though the module has a router bias and its expert counts.
// CHECK-LABEL: func.func @forward(
// CHECK-LABEL: func.func @gradients(
// CHECK-SAME: %[[TOK:[a-z0-9]+]]: tensor<2x5xi32> {ds.input = "tokens"}
// CHECK-SAME: %[[EMB:[a-z0-9]+]]: tensor<16x8xf32> {ds.init = "normal", ds.param = "model.embed_tokens.weight"}
// CHECK-SAME: %[[BIAS:[a-z0-9]+]]: tensor<4xf32> {ds.buffer = "model.layers.0.mlp.gate.e_score_correction_bias", ds.init = "zeros"}
// CHECK-SAME: %[[HEAD:[a-z0-9]+]]: tensor<16x8xf32> {ds.init = "normal", ds.param = "lm_head.weight"}
// CHECK-SAME: %[[UNUSED:[a-z0-9]+]]: tensor<8xf32> {ds.init = "ones", ds.param = "model.unused"})
// CHECK-SAME: -> (tensor<f32> {ds.output = "loss"}, tensor<2x4x16xf32> {ds.output = "logits"}, tensor<4xi32> {ds.output = "expert_counts.0"},
// CHECK-SAME: tensor<16x8xf32> {ds.output = "grad.model.embed_tokens.weight"},
// CHECK-SAME: tensor<16x8xf32> {ds.output = "grad.lm_head.weight"},
// CHECK-SAME: tensor<8xf32> {ds.output = "grad.model.unused"})
// CHECK: %[[LOGITS:.*]] = ds.linear
// CHECK: %[[LOSS:.*]] = ds.cross_entropy %[[LOGITS]]
// CHECK: %[[DHEAD:.*]] = ds.linear_wgrad
// CHECK: %[[DEMB:.*]] = ds.embedding_grad
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<8xf32>
// CHECK-NOT: ds.grad_norm
// CHECK-NOT: ds.adamw
// CHECK-NOT: ds.bias_update
// CHECK: return %[[LOSS]], %[[LOGITS]], %{{.*}}, %[[DEMB]], %[[DHEAD]], %[[ZERO]] :

// NOFWD-NOT: func.func @forward
// NOFWD-LABEL: func.func @gradients(
// NOFWD-NOT: func.func @forward

// The lowered plan binds the gradients as outputs; there is nothing to update.
// LOWER-LABEL: dsx.program @gradients
// LOWER-DAG: dsx.buffer output "grad.model.embed_tokens.weight" : memref<16x8xf32>
// LOWER-DAG: dsx.buffer output "grad.lm_head.weight" : memref<16x8xf32>
// LOWER-DAG: dsx.buffer output "grad.model.unused" : memref<8xf32>
// LOWER-NOT: dsx.buffer input "lr"
// LOWER-NOT: dsx.update
func.func @forward(%tokens: tensor<2x5xi32> {ds.input = "tokens"},
    %emb: tensor<16x8xf32> {ds.param = "model.embed_tokens.weight", ds.init = "normal"},
    %bias: tensor<4xf32> {ds.buffer = "model.layers.0.mlp.gate.e_score_correction_bias", ds.init = "zeros"},
    %head: tensor<16x8xf32> {ds.param = "lm_head.weight", ds.init = "normal"},
    %unused: tensor<8xf32> {ds.param = "model.unused", ds.init = "ones"})
    -> (tensor<f32> {ds.output = "loss"}, tensor<2x4x16xf32> {ds.output = "logits"},
        tensor<4xi32> {ds.output = "expert_counts.0"}) {
  %counts = arith.constant dense<2> : tensor<4xi32>
  %in = ds.slice %tokens {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  %labels = ds.slice %tokens {dim = 1 : i64, offset = 1 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  %h = ds.embedding %in, %emb : (tensor<2x4xi32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
  %logits = ds.linear %h, %head : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  %loss = ds.cross_entropy %logits, %labels : (tensor<2x4x16xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %loss, %logits, %counts : tensor<f32>, tensor<2x4x16xf32>, tensor<4xi32>
}
