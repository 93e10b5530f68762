// RUN: ds-opt %s --split-input-file --ds-fuse | FileCheck %s

// MLA's query: the nope channels copied, the last qk_rope_head_dim channels rotated, put
// together again; one rope_partial over the window [8, 12) of q.

// CHECK-LABEL: dsx.program @query_rope
// CHECK: %[[Q:.*]] = dsx.buffer input "q" : memref<1x4x2x12xf32>
// CHECK-NOT: "slice"
// CHECK-NOT: "concat"
// CHECK: dsx.launch "rope_partial"(%[[Q]]) -> (%{{.*}}) attrs {interleaved = true, offset = 8 : i64, size = 4 : i64, theta = 1.000000e+04 : f64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x12xf32>
dsx.program @query_rope {
  %q = dsx.buffer input "q" : memref<1x4x2x12xf32>
  %nope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%q) -> (%nope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x8xf32>
  %pe = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "slice"(%q) -> (%pe) attrs {dim = 3 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x4xf32>
  %rotated = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "rope"(%pe) -> (%rotated) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x2x4xf32>) -> memref<1x4x2x4xf32>
  %out = dsx.buffer output "q_rot" : memref<1x4x2x12xf32>
  dsx.launch "concat"(%nope, %rotated) -> (%out) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x4xf32>) -> memref<1x4x2x12xf32>
}

// -----

// The backward of the query's RoPE (after ds-fuse made the slice_grad sum a concat).

// CHECK-LABEL: dsx.program @query_rope_grad
// CHECK: dsx.launch "rope_partial_grad"(%{{.*}}) -> (%{{.*}}) attrs {interleaved = false, offset = 8 : i64, size = 4 : i64, theta = 1.000000e+04 : f64}
dsx.program @query_rope_grad {
  %dq = dsx.buffer input "dq" : memref<1x4x2x12xf32>
  %dpe = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "slice"(%dq) -> (%dpe) attrs {dim = 3 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x4xf32>
  %back = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "rope_grad"(%dpe) -> (%back) attrs {interleaved = false, theta = 1.0e4 : f64} : (memref<1x4x2x4xf32>) -> memref<1x4x2x4xf32>
  %dnope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%dq) -> (%dnope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x8xf32>
  %out = dsx.buffer output "dq_in" : memref<1x4x2x12xf32>
  dsx.launch "concat"(%dnope, %back) -> (%out) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x4xf32>) -> memref<1x4x2x12xf32>
}

// -----

// The rotated slice is read by another launch too: it must be written, nothing fuses.

// CHECK-LABEL: dsx.program @rotated_read_twice
// CHECK-NOT: rope_partial
// CHECK: dsx.launch "rope"
// CHECK: dsx.launch "concat"
dsx.program @rotated_read_twice {
  %q = dsx.buffer input "q" : memref<1x4x2x12xf32>
  %nope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%q) -> (%nope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x8xf32>
  %pe = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "slice"(%q) -> (%pe) attrs {dim = 3 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x4xf32>
  %rotated = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "rope"(%pe) -> (%rotated) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x2x4xf32>) -> memref<1x4x2x4xf32>
  %out = dsx.buffer output "q_rot" : memref<1x4x2x12xf32>
  dsx.launch "concat"(%nope, %rotated) -> (%out) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x4xf32>) -> memref<1x4x2x12xf32>
  %again = dsx.buffer output "pe_rot" : memref<1x4x2x4xf32>
  dsx.launch "scale"(%rotated) -> (%again) attrs {factor = 1.0 : f64} : (memref<1x4x2x4xf32>) -> memref<1x4x2x4xf32>
}

// -----

// Slices of two different tensors are not one tensor's channels; and a bf16 slice of an
// f32 tensor rounds, which the fused kernel would not.

// CHECK-LABEL: dsx.program @not_one_tensor
// CHECK-NOT: rope_partial
// CHECK-LABEL: dsx.program @rounding_slice
// CHECK-NOT: rope_partial
dsx.program @not_one_tensor {
  %q = dsx.buffer input "q" : memref<1x4x2x12xf32>
  %k = dsx.buffer input "k" : memref<1x4x2x12xf32>
  %nope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%q) -> (%nope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x8xf32>
  %pe = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "slice"(%k) -> (%pe) attrs {dim = 3 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x4xf32>
  %rotated = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "rope"(%pe) -> (%rotated) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x2x4xf32>) -> memref<1x4x2x4xf32>
  %out = dsx.buffer output "q_rot" : memref<1x4x2x12xf32>
  dsx.launch "concat"(%nope, %rotated) -> (%out) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x4xf32>) -> memref<1x4x2x12xf32>
}
dsx.program @rounding_slice {
  %q = dsx.buffer input "q" : memref<1x4x2x12xf32>
  %nope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%q) -> (%nope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x8xf32>
  %pe = dsx.buffer temporary : memref<1x4x2x4xbf16>
  dsx.launch "slice"(%q) -> (%pe) attrs {dim = 3 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x4xbf16>
  %rotated = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "rope"(%pe) -> (%rotated) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x2x4xbf16>) -> memref<1x4x2x4xf32>
  %out = dsx.buffer output "q_rot" : memref<1x4x2x12xf32>
  dsx.launch "concat"(%nope, %rotated) -> (%out) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x4xf32>) -> memref<1x4x2x12xf32>
}
