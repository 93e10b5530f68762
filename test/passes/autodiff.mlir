// RUN: ds-opt %s --split-input-file --ds-autodiff | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-autodiff="beta1=0.8 beta2=0.99 epsilon=1e-6 weight-decay=0.0 max-grad-norm=0.5 keep-forward=false" | FileCheck %s --check-prefix=OPTIONS

// Embedding, output head and cross-entropy; one parameter the loss does not reach.
// @forward is kept by default and dropped with keep-forward=false.
// CHECK-LABEL: func.func @forward(
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[TOK:[a-z0-9]+]]: tensor<2x5xi32> {ds.input = "tokens"}
// CHECK-SAME: %[[EMB:[a-z0-9]+]]: tensor<16x8xf32> {ds.init = "normal", ds.param = "model.embed_tokens.weight"}
// CHECK-SAME: %[[HEAD:[a-z0-9]+]]: tensor<16x8xf32> {ds.init = "normal", ds.param = "lm_head.weight"}
// CHECK-SAME: %[[UNUSED:[a-z0-9]+]]: tensor<8xf32> {ds.init = "ones", ds.param = "model.unused"}
// CHECK-SAME: %[[M0:[a-z0-9]+]]: tensor<16x8xf32> {ds.state = "exp_avg.model.embed_tokens.weight"}
// CHECK-SAME: %[[V0:[a-z0-9]+]]: tensor<16x8xf32> {ds.state = "exp_avg_sq.model.embed_tokens.weight"}
// CHECK-SAME: {ds.state = "exp_avg.lm_head.weight"}
// CHECK-SAME: {ds.state = "exp_avg_sq.lm_head.weight"}
// CHECK-SAME: {ds.state = "exp_avg.model.unused"}
// CHECK-SAME: {ds.state = "exp_avg_sq.model.unused"}
// CHECK-SAME: %[[LR:[a-z0-9]+]]: tensor<f32> {ds.input = "lr"}
// CHECK-SAME: %[[STEP:[a-z0-9]+]]: tensor<f32> {ds.input = "step"})
// CHECK-SAME: -> (tensor<f32> {ds.output = "loss"}, tensor<f32> {ds.output = "grad_norm"},
// CHECK-SAME: tensor<16x8xf32> {ds.update = "model.embed_tokens.weight"}, tensor<16x8xf32> {ds.update = "exp_avg.model.embed_tokens.weight"}, tensor<16x8xf32> {ds.update = "exp_avg_sq.model.embed_tokens.weight"},
// CHECK-SAME: {ds.update = "lm_head.weight"}
// CHECK-SAME: tensor<8xf32> {ds.update = "model.unused"}, tensor<8xf32> {ds.update = "exp_avg.model.unused"}, tensor<8xf32> {ds.update = "exp_avg_sq.model.unused"})
// CHECK: %[[IDS:.*]] = ds.slice %[[TOK]] {dim = 1 : i64, offset = 0 : i64
// CHECK: %[[LABELS:.*]] = ds.slice %[[TOK]] {dim = 1 : i64, offset = 1 : i64
// CHECK: %[[H:.*]] = ds.embedding %[[IDS]], %[[EMB]]
// CHECK: %[[LOGITS:.*]] = ds.linear %[[H]], %[[HEAD]]
// CHECK: %[[LOSS:.*]] = ds.cross_entropy %[[LOGITS]], %[[LABELS]]
// CHECK: %[[SEED:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[DLOGITS:.*]] = ds.cross_entropy_grad %[[LOGITS]], %[[LABELS]], %[[SEED]]
// CHECK: %[[DH:.*]] = ds.linear_dgrad %[[DLOGITS]], %[[HEAD]]
// CHECK: %[[DHEAD:.*]] = ds.linear_wgrad %[[DLOGITS]], %[[H]]
// CHECK: %[[DEMB:.*]] = ds.embedding_grad %[[IDS]], %[[DH]]
// CHECK-NOT: ds.slice_grad
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<8xf32>
// CHECK: %[[NORM:.*]] = ds.grad_norm %[[DEMB]], %[[DHEAD]], %[[ZERO]]
// CHECK: %[[P0:.*]], %[[M0N:.*]], %[[V0N:.*]] = ds.adamw %[[EMB]], %[[DEMB]], %[[M0]], %[[V0]], %[[LR]], %[[STEP]], %[[NORM]] {beta1 = 9.000000e-01 : f64, beta2 = 0.94999999999999996 : f64, epsilon = 1.000000e-08 : f64, max_grad_norm = 1.000000e+00 : f64, weight_decay = 1.000000e-01 : f64}
// CHECK: ds.adamw %[[HEAD]], %[[DHEAD]]
// CHECK: %[[P2:.*]], %[[M2N:.*]], %[[V2N:.*]] = ds.adamw %[[UNUSED]], %[[ZERO]]
// CHECK: return %[[LOSS]], %[[NORM]], %[[P0]], %[[M0N]], %[[V0N]], {{.*}}, %[[P2]], %[[M2N]], %[[V2N]] :

// OPTIONS-NOT: func.func @forward
// OPTIONS-LABEL: func.func @train_step(
// OPTIONS: ds.adamw {{.*}} {beta1 = 8.000000e-01 : f64, beta2 = 0.98999999999999999 : f64, epsilon = 9.9999999999999995E-7 : f64, max_grad_norm = 5.000000e-01 : f64, weight_decay = 0.000000e+00 : f64}
func.func @forward(%tokens: tensor<2x5xi32> {ds.input = "tokens"},
    %emb: tensor<16x8xf32> {ds.param = "model.embed_tokens.weight", ds.init = "normal"},
    %head: tensor<16x8xf32> {ds.param = "lm_head.weight", ds.init = "normal"},
    %unused: tensor<8xf32> {ds.param = "model.unused", ds.init = "ones"})
    -> (tensor<f32> {ds.output = "loss"}) {
  %in = ds.slice %tokens {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  %labels = ds.slice %tokens {dim = 1 : i64, offset = 1 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  %h = ds.embedding %in, %emb : (tensor<2x4xi32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
  %logits = ds.linear %h, %head : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  %loss = ds.cross_entropy %logits, %labels : (tensor<2x4x16xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// A residual block: h feeds both the RMSNorm and the residual add, so its two
// gradients are summed with ds.add; the norm weight gets rms_norm_grad's weight_grad.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[TOK:[a-z0-9]+]]: tensor<2x4xi32>
// CHECK-SAME: %[[EMB:[a-z0-9]+]]: tensor<16x8xf32>
// CHECK-SAME: %[[NORMW:[a-z0-9]+]]: tensor<8xf32>
// CHECK-SAME: %[[HEAD:[a-z0-9]+]]: tensor<16x8xf32>
// CHECK: %[[H:.*]] = ds.embedding %[[TOK]], %[[EMB]]
// CHECK: %[[N:.*]] = ds.rms_norm %[[H]], %[[NORMW]]
// CHECK: %[[R:.*]] = ds.add %[[H]], %[[N]]
// CHECK: %[[LOGITS:.*]] = ds.linear %[[R]], %[[HEAD]]
// CHECK: ds.cross_entropy_grad
// CHECK: %[[DR:.*]] = ds.linear_dgrad
// CHECK: %[[DX:.*]], %[[DW:.*]] = ds.rms_norm_grad %[[H]], %[[NORMW]], %[[DR]] {eps = 9.9999999999999995E-7 : f64}
// CHECK: %[[DH:.*]] = ds.add %[[DR]], %[[DX]]
// CHECK: %[[DEMB:.*]] = ds.embedding_grad %[[TOK]], %[[DH]]
// CHECK: ds.grad_norm %[[DEMB]], %[[DW]],
func.func @forward(%tokens: tensor<2x4xi32> {ds.input = "tokens"},
    %emb: tensor<16x8xf32> {ds.param = "model.embed_tokens.weight", ds.init = "normal"},
    %norm: tensor<8xf32> {ds.param = "model.norm.weight", ds.init = "ones"},
    %head: tensor<16x8xf32> {ds.param = "lm_head.weight", ds.init = "normal"})
    -> (tensor<f32> {ds.output = "loss"}) {
  %h = ds.embedding %tokens, %emb : (tensor<2x4xi32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
  %n = ds.rms_norm %h, %norm {eps = 1.0e-06 : f64} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %r = ds.add %h, %n : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %logits = ds.linear %r, %head : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  %loss = ds.cross_entropy %logits, %tokens : (tensor<2x4x16xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// FP8 straight-through estimator: the gradient of dequantize(quantize(w)) is the
// gradient of w; the block scales get none.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x4x16xf32>
// CHECK-SAME: %[[W:[a-z0-9]+]]: tensor<16x16xf32>
// CHECK: %[[Q:.*]], %[[S:.*]] = ds.quantize %[[W]]
// CHECK: %[[WD:.*]] = ds.dequantize %[[Q]], %[[S]]
// CHECK: ds.cross_entropy_grad
// The input x does not depend on a parameter: its linear_dgrad is not kept.
// CHECK-NOT: ds.linear_dgrad
// CHECK: %[[DW:.*]] = ds.linear_wgrad
// CHECK-NOT: ds.convert
// CHECK: ds.grad_norm %[[DW]] :
// CHECK: ds.adamw %[[W]], %[[DW]],
func.func @forward(%x: tensor<2x4x16xf32> {ds.input = "hidden"},
    %w: tensor<16x16xf32> {ds.param = "lm_head.weight", ds.init = "normal"},
    %labels: tensor<2x4xi32> {ds.input = "labels"})
    -> (tensor<f32> {ds.output = "loss"}) {
  %q, %s = ds.quantize %w {block = array<i64: 128, 128>} : (tensor<16x16xf32>) -> (tensor<16x16xf8E4M3FN>, tensor<1x1xf32>)
  %wd = ds.dequantize %q, %s {block = array<i64: 128, 128>} : (tensor<16x16xf8E4M3FN>, tensor<1x1xf32>) -> tensor<16x16xf32>
  %logits = ds.linear %x, %wd : (tensor<2x4x16xf32>, tensor<16x16xf32>) -> tensor<2x4x16xf32>
  %loss = ds.cross_entropy %logits, %labels : (tensor<2x4x16xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Elementwise VJPs: scale by its factor, mul by the other operand (s and h both reach
// the product, h also through s, so h's gradients are summed), convert back across the
// precision boundary.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[H:.*]] = ds.embedding
// CHECK: %[[S:.*]] = ds.scale %[[H]] {factor = 5.000000e-01 : f64}
// CHECK: %[[M:.*]] = ds.mul %[[S]], %[[H]]
// CHECK: ds.cross_entropy_grad
// CHECK: %[[DC16:.*]] = ds.linear_dgrad {{.*}} -> tensor<2x4x8xbf16>
// CHECK: %[[DM:.*]] = ds.convert %[[DC16]] : (tensor<2x4x8xbf16>) -> tensor<2x4x8xf32>
// CHECK: %[[DS:.*]] = ds.mul %[[DM]], %[[H]]
// CHECK: %[[DH1:.*]] = ds.mul %[[DM]], %[[S]]
// CHECK: %[[DH2:.*]] = ds.scale %[[DS]] {factor = 5.000000e-01 : f64}
// CHECK: %[[DH:.*]] = ds.add %[[DH1]], %[[DH2]]
// CHECK: ds.embedding_grad %{{.*}}, %[[DH]]
func.func @forward(%tokens: tensor<2x4xi32> {ds.input = "tokens"},
    %emb: tensor<16x8xf32> {ds.param = "model.embed_tokens.weight", ds.init = "normal"},
    %head: tensor<16x8xbf16> {ds.param = "lm_head.weight", ds.init = "normal"})
    -> (tensor<f32> {ds.output = "loss"}) {
  %h = ds.embedding %tokens, %emb : (tensor<2x4xi32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
  %s = ds.scale %h {factor = 0.5 : f64} : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %m = ds.mul %s, %h : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %c = ds.convert %m : (tensor<2x4x8xf32>) -> tensor<2x4x8xbf16>
  %logits = ds.linear %c, %head : (tensor<2x4x8xbf16>, tensor<16x8xbf16>) -> tensor<2x4x16xbf16>
  %loss = ds.cross_entropy %logits, %tokens : (tensor<2x4x16xbf16>, tensor<2x4xi32>) -> tensor<f32>
  return %loss : tensor<f32>
}
