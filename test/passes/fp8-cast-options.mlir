// RUN: ds-opt %s --split-input-file --ds-fp8-cast | FileCheck %s --check-prefix=BLOCK
// RUN: ds-opt %s --split-input-file --ds-fp8-cast=granularity=per-row | FileCheck %s --check-prefix=ROW
// RUN: ds-opt %s --split-input-file --ds-fp8-cast=granularity=per-tensor | FileCheck %s --check-prefix=TENSOR
// RUN: ds-opt %s --split-input-file --ds-fp8-cast="keep-high-precision=wgrad,grouped_linear" \
// RUN:   | FileCheck %s --check-prefix=KEEP
// RUN: ds-opt %s --split-input-file --ds-fp8-cast=promote-interval=0 | FileCheck %s --check-prefix=NOPROMOTE
// RUN: ds-opt %s --split-input-file --ds-fp8-cast=promote-interval=32 | FileCheck %s --check-prefix=P32
// A second run finds every GEMM operand already FP8 and adds nothing: the 14 quantizations
// of one run (5 + 5 + 0 + 4 in the four cases below).
// RUN: ds-opt %s --split-input-file --ds-fp8-cast --ds-fp8-cast | FileCheck %s --check-prefix=AGAIN
// AGAIN-COUNT-14: ds.quantize
// AGAIN-NOT: ds.quantize

// The three GEMMs of one dense linear layer on [B, S, K] activations: x [2, 4, 256],
// W [8, 256], dy [2, 4, 8].

// BLOCK-LABEL: func.func @dense
// Fprop reduces over K: x in 1x128 tiles, W in 128x128 blocks.
// BLOCK: ds.quantize %arg0 {block = array<i64: 1, 128>} : (tensor<2x4x256xf32>) -> (tensor<2x4x256xf8E4M3FN>, tensor<2x4x2xf32>)
// BLOCK: %[[XQ:.*]] = ds.dequantize
// BLOCK: ds.quantize %arg1 {block = array<i64: 128, 128>} : (tensor<8x256xf32>) -> (tensor<8x256xf8E4M3FN>, tensor<1x2xf32>)
// BLOCK: %[[WQ:.*]] = ds.dequantize
// BLOCK: ds.linear %[[XQ]], %[[WQ]] {ds.fp8_promote_interval = 128 : i64}
// Dgrad reduces over N: dy in 1x128 tiles along N; the same weight blocks.
// BLOCK: ds.quantize %arg2 {block = array<i64: 1, 128>} : (tensor<2x4x8xf32>)
// BLOCK: %[[DYQ:.*]] = ds.dequantize
// BLOCK: ds.linear_dgrad %[[DYQ]], %[[WQ]] {ds.fp8_promote_interval = 128 : i64}
// Wgrad reduces over tokens: 128x1 tiles along S, no reshape; x is the Fprop's FP8 copy.
// BLOCK-NOT: ds.reshape
// BLOCK: ds.quantize %arg2 {block = array<i64: 128, 1>} : (tensor<2x4x8xf32>) -> (tensor<2x4x8xf8E4M3FN>, tensor<2x1x8xf32>)
// BLOCK: %[[DYT:.*]] = ds.dequantize
// BLOCK: ds.quantize %[[XQ]] {block = array<i64: 128, 1>} : (tensor<2x4x256xf32>) -> (tensor<2x4x256xf8E4M3FN>, tensor<2x1x256xf32>)
// BLOCK: %[[XT:.*]] = ds.dequantize
// BLOCK: ds.linear_wgrad %[[DYT]], %[[XT]] {ds.fp8_promote_interval = 128 : i64}

// Per-row: each scale spans the whole reduced axis.
// ROW-LABEL: func.func @dense
// ROW: ds.quantize %arg0 {block = array<i64: 1, 256>} : (tensor<2x4x256xf32>) -> (tensor<2x4x256xf8E4M3FN>, tensor<2x4x1xf32>)
// ROW: %[[XQ:.*]] = ds.dequantize
// ROW: ds.quantize %arg1 {block = array<i64: 1, 256>} : (tensor<8x256xf32>) -> (tensor<8x256xf8E4M3FN>, tensor<8x1xf32>)
// ROW: ds.linear
// Dgrad: per token of dy, per column (input feature) of W.
// ROW: ds.quantize %arg2 {block = array<i64: 1, 8>} : (tensor<2x4x8xf32>)
// ROW: ds.quantize %arg1 {block = array<i64: 8, 1>} : (tensor<8x256xf32>) -> (tensor<8x256xf8E4M3FN>, tensor<1x256xf32>)
// ROW: ds.linear_dgrad
// Wgrad: per channel over all 8 tokens of the batch, on a [tokens, C] view.
// ROW: %[[DYV:.*]] = ds.reshape %arg2 : (tensor<2x4x8xf32>) -> tensor<8x8xf32>
// ROW: ds.quantize %[[DYV]] {block = array<i64: 8, 1>} : (tensor<8x8xf32>) -> (tensor<8x8xf8E4M3FN>, tensor<1x8xf32>)
// ROW: %[[DYD:.*]] = ds.dequantize
// ROW: %[[DYT:.*]] = ds.reshape %[[DYD]] : (tensor<8x8xf32>) -> tensor<2x4x8xf32>
// ROW: %[[XV:.*]] = ds.reshape %[[XQ]] : (tensor<2x4x256xf32>) -> tensor<8x256xf32>
// ROW: ds.quantize %[[XV]] {block = array<i64: 8, 1>}
// ROW: %[[XD:.*]] = ds.dequantize
// ROW: %[[XT:.*]] = ds.reshape %[[XD]] : (tensor<8x256xf32>) -> tensor<2x4x256xf32>
// ROW: ds.linear_wgrad %[[DYT]], %[[XT]] {ds.fp8_promote_interval = 128 : i64}

// Per-tensor: one scale per operand, over the [tokens, C] view for activations.
// TENSOR-LABEL: func.func @dense
// TENSOR: %[[XV:.*]] = ds.reshape %arg0 : (tensor<2x4x256xf32>) -> tensor<8x256xf32>
// TENSOR: ds.quantize %[[XV]] {block = array<i64: 8, 256>} : (tensor<8x256xf32>) -> (tensor<8x256xf8E4M3FN>, tensor<1x1xf32>)
// TENSOR: ds.quantize %arg1 {block = array<i64: 8, 256>} : (tensor<8x256xf32>) -> (tensor<8x256xf8E4M3FN>, tensor<1x1xf32>)
// TENSOR: ds.linear
// TENSOR: ds.quantize %{{.*}} {block = array<i64: 8, 8>} : (tensor<8x8xf32>) -> (tensor<8x8xf8E4M3FN>, tensor<1x1xf32>)
// TENSOR: ds.linear_dgrad
// The Wgrad reuses dy's per-tensor quantization.
// TENSOR-NOT: {block = array<i64: 8, 8>}
// TENSOR: ds.quantize %{{.*}} {block = array<i64: 8, 256>}
// TENSOR: ds.linear_wgrad

// KEEP-LABEL: func.func @dense
// KEEP: ds.linear %{{.*}}, %{{.*}} {ds.fp8_promote_interval = 128 : i64}
// KEEP: ds.linear_dgrad %{{.*}}, %{{.*}} {ds.fp8_promote_interval = 128 : i64}
// KEEP-NOT: ds.quantize
// KEEP: ds.linear_wgrad %arg2, %arg0 : (

// NOPROMOTE-LABEL: func.func @dense
// NOPROMOTE: ds.quantize
// NOPROMOTE-NOT: fp8_promote_interval
// NOPROMOTE: ds.linear %{{.*}}, %{{.*}} : (
// NOPROMOTE: ds.linear_dgrad %{{.*}}, %{{.*}} : (
// NOPROMOTE: ds.linear_wgrad %{{.*}}, %{{.*}} : (

// P32-LABEL: func.func @dense
// P32-COUNT-3: {ds.fp8_promote_interval = 32 : i64}
func.func @dense(%x: tensor<2x4x256xf32>,
    %w: tensor<8x256xf32> {ds.param = "model.layers.0.mlp.down_proj.weight"},
    %dy: tensor<2x4x8xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x256xf32>, tensor<8x256xf32>) {
  %y = ds.linear %x, %w : (tensor<2x4x256xf32>, tensor<8x256xf32>) -> tensor<2x4x8xf32>
  %dx = ds.linear_dgrad %dy, %w : (tensor<2x4x8xf32>, tensor<8x256xf32>) -> tensor<2x4x256xf32>
  %dw = ds.linear_wgrad %dy, %x : (tensor<2x4x8xf32>, tensor<2x4x256xf32>) -> tensor<8x256xf32>
  return %y, %dx, %dw : tensor<2x4x8xf32>, tensor<2x4x256xf32>, tensor<8x256xf32>
}

// -----

// Stacked expert weights [E, N, K] are quantized per expert matrix.

// BLOCK-LABEL: func.func @experts
// BLOCK: ds.quantize %arg1 {block = array<i64: 128, 128>} : (tensor<2x8x256xf32>) -> (tensor<2x8x256xf8E4M3FN>, tensor<2x1x2xf32>)
// BLOCK: ds.grouped_linear {{.*}} {ds.fp8_promote_interval = 128 : i64}
// BLOCK: ds.grouped_linear_dgrad {{.*}} {ds.fp8_promote_interval = 128 : i64}
// The Wgrad's 128x1 tiles run over the permuted rows of both experts.
// BLOCK: ds.quantize %arg3 {block = array<i64: 128, 1>} : (tensor<6x8xf32>) -> (tensor<6x8xf8E4M3FN>, tensor<1x8xf32>)
// BLOCK: ds.grouped_linear_wgrad {{.*}} {ds.fp8_promote_interval = 128 : i64}

// ROW-LABEL: func.func @experts
// ROW: ds.quantize %arg1 {block = array<i64: 1, 256>} : (tensor<2x8x256xf32>) -> (tensor<2x8x256xf8E4M3FN>, tensor<2x8x1xf32>)
// ROW: ds.quantize %arg1 {block = array<i64: 8, 1>} : (tensor<2x8x256xf32>) -> (tensor<2x8x256xf8E4M3FN>, tensor<2x1x256xf32>)
// ROW: ds.quantize %arg3 {block = array<i64: 6, 1>} : (tensor<6x8xf32>)

// TENSOR-LABEL: func.func @experts
// TENSOR: ds.quantize %arg0 {block = array<i64: 6, 256>} : (tensor<6x256xf32>) -> (tensor<6x256xf8E4M3FN>, tensor<1x1xf32>)
// TENSOR: ds.quantize %arg1 {block = array<i64: 8, 256>} : (tensor<2x8x256xf32>) -> (tensor<2x8x256xf8E4M3FN>, tensor<2x1x1xf32>)

// keep-high-precision=wgrad,grouped_linear: the expert Fprop and Wgrad stay, its Dgrad
// is FP8.
// KEEP-LABEL: func.func @experts
// KEEP: ds.grouped_linear %arg0, %arg1, %arg2 : (
// KEEP: ds.quantize %arg3 {block = array<i64: 1, 128>}
// KEEP: ds.quantize %arg1 {block = array<i64: 128, 128>}
// KEEP: ds.grouped_linear_dgrad {{.*}} {ds.fp8_promote_interval = 128 : i64}
// KEEP-NOT: ds.quantize
// KEEP: ds.grouped_linear_wgrad %arg3, %arg0, %arg2 : (
func.func @experts(%x: tensor<6x256xf32>,
    %w: tensor<2x8x256xf32> {ds.param = "model.layers.1.mlp.experts.down"},
    %counts: tensor<2xi32>, %dy: tensor<6x8xf32>)
    -> (tensor<6x8xf32>, tensor<6x256xf32>, tensor<2x8x256xf32>) {
  %y = ds.grouped_linear %x, %w, %counts : (tensor<6x256xf32>, tensor<2x8x256xf32>, tensor<2xi32>) -> tensor<6x8xf32>
  %dx = ds.grouped_linear_dgrad %dy, %w, %counts : (tensor<6x8xf32>, tensor<2x8x256xf32>, tensor<2xi32>) -> tensor<6x256xf32>
  %dw = ds.grouped_linear_wgrad %dy, %x, %counts : (tensor<6x8xf32>, tensor<6x256xf32>, tensor<2xi32>) -> tensor<2x8x256xf32>
  return %y, %dx, %dw : tensor<6x8xf32>, tensor<6x256xf32>, tensor<2x8x256xf32>
}

// -----

// High precision by parameter: a router gate read through ds.convert (BF16 storage of
// the FP32 master), an output head tied to the embedding table, and their Wgrads, found
// through the gradient sum and the ds.adamw that consumes them.

// BLOCK-LABEL: func.func @kept_parameters
// BLOCK-NOT: ds.quantize
// BLOCK-NOT: fp8_promote_interval
// BLOCK: return
func.func @kept_parameters(%x: tensor<4x16xbf16>, %dy: tensor<4x8xbf16>,
    %gate: tensor<8x16xf32> {ds.param = "model.layers.2.mlp.gate.weight"},
    %table: tensor<8x16xf32> {ds.param = "model.embed_tokens.weight"},
    %m: tensor<8x16xf32>, %v: tensor<8x16xf32>, %lr: tensor<f32>, %step: tensor<f32>,
    %norm: tensor<f32>) -> (tensor<4x8xbf16>, tensor<8x16xf32>, tensor<8x16xf32>) {
  %g16 = ds.convert %gate : (tensor<8x16xf32>) -> tensor<8x16xbf16>
  %logits = ds.linear %x, %g16 : (tensor<4x16xbf16>, tensor<8x16xbf16>) -> tensor<4x8xbf16>
  %dx = ds.linear_dgrad %dy, %g16 : (tensor<4x8xbf16>, tensor<8x16xbf16>) -> tensor<4x16xbf16>
  %dw16 = ds.linear_wgrad %dy, %x : (tensor<4x8xbf16>, tensor<4x16xbf16>) -> tensor<8x16xbf16>
  %dw = ds.convert %dw16 : (tensor<8x16xbf16>) -> tensor<8x16xf32>
  %p, %m2, %v2 = ds.adamw %gate, %dw, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64,
      beta2 = 0.95 : f64, epsilon = 1.0e-8 : f64, max_grad_norm = 1.0 : f64, weight_decay = 0.1 : f64}
      : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<f32>,
         tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>)
  %x32 = ds.convert %x : (tensor<4x16xbf16>) -> tensor<4x16xf32>
  %dy32 = ds.convert %dy : (tensor<4x8xbf16>) -> tensor<4x8xf32>
  %head = ds.linear_wgrad %dy32, %x32 : (tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<8x16xf32>
  %sum = ds.add %head, %dw : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %p3, %m3, %v3 = ds.adamw %table, %sum, %m, %v, %lr, %step, %norm {beta1 = 0.9 : f64,
      beta2 = 0.95 : f64, epsilon = 1.0e-8 : f64, max_grad_norm = 1.0 : f64, weight_decay = 0.1 : f64}
      : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>, tensor<f32>,
         tensor<f32>, tensor<f32>) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>)
  %tied = ds.linear %x32, %table : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  return %logits, %p, %p3 : tensor<4x8xbf16>, tensor<8x16xf32>, tensor<8x16xf32>
}

// -----

// BF16 operands are quantized from BF16 and dequantized back to BF16; a rank-1 input
// (one token) is viewed as [1, K].

// BLOCK-LABEL: func.func @bf16_and_rank1
// BLOCK: ds.quantize %arg0 {block = array<i64: 1, 128>} : (tensor<3x256xbf16>) -> (tensor<3x256xf8E4M3FN>, tensor<3x2xf32>)
// BLOCK: ds.dequantize {{.*}} -> tensor<3x256xbf16>
// BLOCK: ds.linear {{.*}} {ds.fp8_promote_interval = 128 : i64} : (tensor<3x256xbf16>, tensor<8x256xbf16>)
// BLOCK: %[[ONE:.*]] = ds.reshape %arg2 : (tensor<256xf32>) -> tensor<1x256xf32>
// BLOCK: ds.quantize %[[ONE]] {block = array<i64: 1, 128>} : (tensor<1x256xf32>)
// BLOCK: %[[ONEQ:.*]] = ds.dequantize
// BLOCK: %[[BACK:.*]] = ds.reshape %[[ONEQ]] : (tensor<1x256xf32>) -> tensor<256xf32>
// BLOCK: ds.linear %[[BACK]], %{{.*}} {ds.fp8_promote_interval = 128 : i64} : (tensor<256xf32>, tensor<8x256xf32>)
func.func @bf16_and_rank1(%x: tensor<3x256xbf16>, %w: tensor<8x256xbf16>, %token: tensor<256xf32>,
    %w32: tensor<8x256xf32>) -> (tensor<3x8xbf16>, tensor<8xf32>) {
  %y = ds.linear %x, %w : (tensor<3x256xbf16>, tensor<8x256xbf16>) -> tensor<3x8xbf16>
  %t = ds.linear %token, %w32 : (tensor<256xf32>, tensor<8x256xf32>) -> tensor<8xf32>
  return %y, %t : tensor<3x8xbf16>, tensor<8xf32>
}
