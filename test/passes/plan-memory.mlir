// RUN: ds-opt %s --split-input-file --ds-lower-to-exec --ds-plan-memory | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-lower-to-exec --ds-plan-memory=alignment=256 | FileCheck %s --check-prefix=ALIGN

// A chain a -> b -> c -> d of 4 KiB temporaries: a and b are dead once c is computed, so d
// reuses a's bytes. Persistent buffers come first, each 64-byte aligned; the arena starts
// above them.

// CHECK-LABEL: dsx.program @train_step attributes {arena_bytes = 12416 : i64, persistent_bytes = 4224 : i64}
// CHECK: dsx.buffer input "x" at 0 : memref<1024xf32>
// CHECK: dsx.buffer input "lr" at 4096 : memref<f32>
// CHECK: dsx.buffer param "w" at 4160 {init = "normal"} : memref<7xf32>
// CHECK: %[[A:.*]] = dsx.buffer temporary at [[A_AT:4224]] : memref<1024xf32>
// CHECK: %[[B:.*]] = dsx.buffer temporary at [[B_AT:8320]] : memref<1024xf32>
// CHECK: %[[C:.*]] = dsx.buffer temporary at [[A_AT]] : memref<1024xf32>
// CHECK: %[[D:.*]] = dsx.buffer output "d" at [[B_AT]] : memref<1024xf32>

// ALIGN-LABEL: dsx.program @train_step attributes {arena_bytes = 12800 : i64, persistent_bytes = 4608 : i64}
// ALIGN: dsx.buffer input "lr" at 4096
// ALIGN: dsx.buffer param "w" at 4352
func.func @train_step(%x: tensor<1024xf32> {ds.input = "x"}, %lr: tensor<f32> {ds.input = "lr"},
                      %w: tensor<7xf32> {ds.param = "w", ds.init = "normal"})
    -> (tensor<1024xf32> {ds.output = "d"}) {
  %a = ds.scale %x {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %b = ds.scale %a {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %c = ds.scale %b {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %d = ds.scale %c {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  return %d : tensor<1024xf32>
}

// -----

// The source of a dsx.update is read by the runtime after the last launch, so it stays
// live to the end of the step: the new weight may not share bytes with %t, which is
// computed after it.

// CHECK-LABEL: dsx.program @train_step attributes {arena_bytes = 12416 : i64, persistent_bytes = 4160 : i64}
// CHECK: dsx.buffer temporary at 12352 : memref<7xf32>
// CHECK: dsx.buffer temporary at 4160 : memref<1024xf32>
// CHECK: dsx.buffer output "u" at 8256 : memref<1024xf32>
// CHECK: dsx.update
func.func @train_step(%x: tensor<1024xf32> {ds.input = "x"},
                      %w: tensor<7xf32> {ds.param = "w", ds.init = "zeros"})
    -> (tensor<7xf32> {ds.update = "w"}, tensor<1024xf32> {ds.output = "u"}) {
  %n = ds.scale %w {factor = 0.5 : f64} : (tensor<7xf32>) -> tensor<7xf32>
  %t = ds.scale %x {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %u = ds.scale %t {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  return %n, %u : tensor<7xf32>, tensor<1024xf32>
}

// -----

// Results of one launch are live together and live with its inputs, so no two of them
// share bytes; the router's indices die at the dispatch, and the combine's output, born
// after it, reuses their bytes. Persistent: logits [0, 256), bias [256, 320), x [320, 832).

// CHECK-LABEL: dsx.program @train_step attributes {arena_bytes = 1984 : i64, persistent_bytes = 832 : i64}
// CHECK: %[[IDX:.*]] = dsx.buffer temporary at 1344 : memref<16x1xi32>
// CHECK: %[[WTS:.*]] = dsx.buffer temporary at 1856 : memref<16x1xf32>
// CHECK: dsx.launch "router"({{.*}}) -> (%[[IDX]], %[[WTS]])
// CHECK: %[[PERM:.*]] = dsx.buffer temporary at 832 : memref<16x8xf32>
// CHECK: %[[COUNTS:.*]] = dsx.buffer temporary at 1408 : memref<4xi32>
// CHECK: %[[POS:.*]] = dsx.buffer temporary at 1920 : memref<16x1xi32>
// CHECK: dsx.launch "dispatch"({{.*}}, %[[IDX]]) -> (%[[PERM]], %[[COUNTS]], %[[POS]])
// CHECK: %[[Y:.*]] = dsx.buffer output "y" at 1344 : memref<16x8xf32>
// CHECK: dsx.launch "combine"(%[[PERM]], %[[POS]], %[[WTS]]) -> (%[[Y]])
func.func @train_step(%logits: tensor<16x4xf32> {ds.input = "logits"}, %bias: tensor<4xf32> {ds.buffer = "bias"},
                      %x: tensor<16x8xf32> {ds.input = "x"})
    -> (tensor<16x8xf32> {ds.output = "y"}) {
  %idx, %wts = ds.router %logits, %bias {top_k = 1 : i64, n_group = 1 : i64, topk_group = 1 : i64,
      score_func = "sigmoid", group_score = "max", norm_topk_prob = true, routed_scale = 1.0 : f64}
      : (tensor<16x4xf32>, tensor<4xf32>) -> (tensor<16x1xi32>, tensor<16x1xf32>)
  %perm, %counts, %pos = ds.dispatch %x, %idx {num_experts = 4 : i64}
      : (tensor<16x8xf32>, tensor<16x1xi32>) -> (tensor<16x8xf32>, tensor<4xi32>, tensor<16x1xi32>)
  %y = ds.combine %perm, %pos, %wts : (tensor<16x8xf32>, tensor<16x1xi32>, tensor<16x1xf32>) -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}
