// The ds-report pass counts what the IR holds, whoever built it: here a hand-written
// graph with a tied head (the embedding table is also the output projection), one MoE
// layer running 2 of 4 experts and an MTP head.
// RUN: ds-opt %s --ds-report -o /dev/null | FileCheck %s
// RUN: rm -f %t.json && ds-opt %s --ds-report="print=false json=%t.json" | FileCheck %s --check-prefix=IR
// RUN: FileCheck %s --check-prefix=JSON --input-file %t.json
// A module without @forward is an error, and so is a decomposed graph.
// RUN: echo 'module {}' | not ds-opt --ds-report 2>&1 | FileCheck %s --check-prefix=NOFORWARD
// RUN: not ds-opt %s --ds-decompose --ds-report 2>&1 | FileCheck %s --check-prefix=DECOMPOSED

// Main model: table 80 + gate 32 + experts 192 + 96 = 400; the MTP head's 8 + 8 + 128.
// Activated: the table through the head 80, gate 32, 2/4 of the experts 144.
// FLOPs per token: gate 64 + experts 288 + head 160; MTP: projection 256 + head 160.
// CHECK: ds-report: handmade, batch 2 x seq 4
// CHECK-NEXT: params_total                                   400
// CHECK-NEXT: params_activated                               256
// CHECK-NEXT: params_embedding                                80
// CHECK-NEXT: params_mtp                                     144
// CHECK-NEXT: buffer_elements                                  4
// CHECK-NEXT: flops_per_token_forward                        512
// CHECK-NEXT: flops_per_token_mtp_forward                    416
// CHECK-NEXT: flops_per_token_training                     2,784
// CHECK-NEXT: kv_cache_bytes_per_token                         0
// CHECK: model.embed_tokens  embedding           80          80           0           0
// CHECK-NEXT: model.layers.0      moe                320         176         352           0
// CHECK-NEXT: lm_head             head                 0           0         160           0
// CHECK-NEXT: model.layers.1      mtp                144         144         416           0

// The pass leaves the IR alone.
// IR: func.func @forward
// IR: ds.mtp_head

// JSON: "params_total": 400,

// NOFORWARD: error: ds-report: the module has no func.func @forward with a body to report on
// DECOMPOSED: error: ds-report: cannot cost 'ds.router': the graph is decomposed; run ds-report before ds-decompose

module attributes {ds.batch = 2 : i64, ds.seq = 4 : i64, ds.model_type = "handmade"} {
  func.func @forward(
      %tokens: tensor<2x6xi32> {ds.input = "tokens"},
      %table: tensor<10x8xf32> {ds.param = "model.embed_tokens.weight", ds.init = "normal"},
      %gate: tensor<4x8xf32> {ds.param = "model.layers.0.mlp.gate.weight", ds.init = "normal"},
      %bias: tensor<4xf32> {ds.buffer = "model.layers.0.mlp.gate.e_score_correction_bias", ds.init = "zeros"},
      %gate_up: tensor<4x6x8xf32> {ds.param = "model.layers.0.mlp.experts.gate_up", ds.init = "normal"},
      %down: tensor<4x8x3xf32> {ds.param = "model.layers.0.mlp.experts.down", ds.init = "normal"},
      %enorm: tensor<8xf32> {ds.param = "model.layers.1.enorm.weight", ds.init = "ones"},
      %hnorm: tensor<8xf32> {ds.param = "model.layers.1.hnorm.weight", ds.init = "ones"},
      %proj: tensor<8x16xf32> {ds.param = "model.layers.1.eh_proj.weight", ds.init = "normal"})
      -> (tensor<f32> {ds.output = "loss"}) {
    %ids = ds.slice %tokens {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x6xi32>) -> tensor<2x4xi32>
    %h = ds.embedding %ids, %table : (tensor<2x4xi32>, tensor<10x8xf32>) -> tensor<2x4x8xf32>
    %y, %counts = ds.moe %h, %gate, %bias, %gate_up, %down {top_k = 2 : i64, n_group = 1 : i64, topk_group = 1 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 1.0 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>} : (tensor<2x4x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x6x8xf32>, tensor<4x8x3xf32>) -> (tensor<2x4x8xf32>, tensor<4xi32>)
    %logits = ds.linear %y, %table : (tensor<2x4x8xf32>, tensor<10x8xf32>) -> tensor<2x4x10xf32>
    %labels = ds.slice %tokens {dim = 1 : i64, offset = 1 : i64, size = 4 : i64} : (tensor<2x6xi32>) -> tensor<2x4xi32>
    %loss = ds.cross_entropy %logits, %labels : (tensor<2x4x10xf32>, tensor<2x4xi32>) -> tensor<f32>
    %next = ds.embedding %labels, %table : (tensor<2x4xi32>, tensor<10x8xf32>) -> tensor<2x4x8xf32>
    %m = ds.mtp_head %y, %next, %hnorm, %enorm, %proj {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 3.0e-01 : f64} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8x16xf32>) -> tensor<2x4x8xf32>
    %mtp_logits = ds.linear %m, %table : (tensor<2x4x8xf32>, tensor<10x8xf32>) -> tensor<2x4x10xf32>
    %labels2 = ds.slice %tokens {dim = 1 : i64, offset = 2 : i64, size = 4 : i64} : (tensor<2x6xi32>) -> tensor<2x4xi32>
    %mtp_loss = ds.cross_entropy %mtp_logits, %labels2 : (tensor<2x4x10xf32>, tensor<2x4xi32>) -> tensor<f32>
    %scaled = ds.scale %mtp_loss {factor = 3.0e-01 : f64} : (tensor<f32>) -> tensor<f32>
    %total = ds.add %loss, %scaled : (tensor<f32>, tensor<f32>) -> tensor<f32>
    return %total : tensor<f32>
  }
}
