// RUN: ds-opt %s --split-input-file --ds-fuse | FileCheck %s

// MLA's key (V2 report §2.1.3): kv_up's nope channels of every head beside the RoPE key
// that kv_a's last channels give once for all heads. Slice, reshape (a view by now),
// rope, expand, slice and concat become one mla_rope_key; the value slice stays.

// CHECK-LABEL: dsx.program @key
// CHECK: %[[KVA:.*]] = dsx.buffer input "kv_a" : memref<1x4x12xf32>
// CHECK: %[[KVUP:.*]] = dsx.buffer input "kv_up" : memref<1x4x2x14xf32>
// CHECK-NOT: "rope"
// CHECK-NOT: "expand"
// CHECK-NOT: "concat"
// CHECK: dsx.launch "mla_rope_key"(%[[KVUP]], %[[KVA]]) -> (%{{.*}}) attrs {interleaved = true, nope_dim = 8 : i64, rope_offset = 8 : i64, theta = 1.000000e+04 : f64} : (memref<1x4x2x14xf32>, memref<1x4x12xf32>) -> memref<1x4x2x12xf32>
// CHECK: dsx.launch "slice"(%[[KVUP]])
dsx.program @key {
  %kvA = dsx.buffer input "kv_a" : memref<1x4x12xf32>
  %kvUp = dsx.buffer input "kv_up" : memref<1x4x2x14xf32>
  %pe = dsx.buffer temporary : memref<1x4x4xf32>
  dsx.launch "slice"(%kvA) -> (%pe) attrs {dim = 2 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x12xf32>) -> memref<1x4x4xf32>
  %pe4 = dsx.buffer temporary : memref<1x4x1x4xf32>
  dsx.launch "reshape"(%pe) -> (%pe4) attrs {} : (memref<1x4x4xf32>) -> memref<1x4x1x4xf32>
  %rotated = dsx.buffer temporary : memref<1x4x1x4xf32>
  dsx.launch "rope"(%pe4) -> (%rotated) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x1x4xf32>) -> memref<1x4x1x4xf32>
  %shared = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "expand"(%rotated) -> (%shared) attrs {} : (memref<1x4x1x4xf32>) -> memref<1x4x2x4xf32>
  %nope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%kvUp) -> (%nope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x14xf32>) -> memref<1x4x2x8xf32>
  %key = dsx.buffer output "k" : memref<1x4x2x12xf32>
  dsx.launch "concat"(%nope, %shared) -> (%key) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x4xf32>) -> memref<1x4x2x12xf32>
  %value = dsx.buffer output "v" : memref<1x4x2x6xf32>
  dsx.launch "slice"(%kvUp) -> (%value) attrs {dim = 3 : i64, offset = 8 : i64, size = 6 : i64} : (memref<1x4x2x14xf32>) -> memref<1x4x2x6xf32>
}

// -----

// The rotated shared key is also read elsewhere: it must be written, nothing fuses.

// CHECK-LABEL: dsx.program @shared_key_read_twice
// CHECK-NOT: mla_rope_key
// CHECK: dsx.launch "concat"
dsx.program @shared_key_read_twice {
  %kvA = dsx.buffer input "kv_a" : memref<1x4x12xf32>
  %kvUp = dsx.buffer input "kv_up" : memref<1x4x2x14xf32>
  %pe = dsx.buffer temporary : memref<1x4x4xf32>
  dsx.launch "slice"(%kvA) -> (%pe) attrs {dim = 2 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x12xf32>) -> memref<1x4x4xf32>
  %pe4 = dsx.buffer temporary : memref<1x4x1x4xf32>
  dsx.launch "reshape"(%pe) -> (%pe4) attrs {} : (memref<1x4x4xf32>) -> memref<1x4x1x4xf32>
  %rotated = dsx.buffer output "rotated" : memref<1x4x1x4xf32>
  dsx.launch "rope"(%pe4) -> (%rotated) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x1x4xf32>) -> memref<1x4x1x4xf32>
  %shared = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "expand"(%rotated) -> (%shared) attrs {} : (memref<1x4x1x4xf32>) -> memref<1x4x2x4xf32>
  %nope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%kvUp) -> (%nope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x14xf32>) -> memref<1x4x2x8xf32>
  %key = dsx.buffer output "k" : memref<1x4x2x12xf32>
  dsx.launch "concat"(%nope, %shared) -> (%key) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x4xf32>) -> memref<1x4x2x12xf32>
}

// -----

// The key's backward: dk's nope channels beside dv rebuild kv_up's gradient; its RoPE
// channels, summed over the heads and rotated back, are kv_a's key gradient.

// CHECK-LABEL: dsx.program @key_grad
// CHECK: %[[DK:.*]] = dsx.buffer input "dk" : memref<1x4x2x12xf32>
// CHECK: %[[DV:.*]] = dsx.buffer input "dv" : memref<1x4x2x6xf32>
// CHECK: dsx.launch "mla_rope_key_grad"(%[[DK]], %[[DV]]) -> (%[[UP:.*]], %[[PE:.*]]) attrs {interleaved = true, nope_dim = 8 : i64, theta = 1.000000e+04 : f64} : (memref<1x4x2x12xf32>, memref<1x4x2x6xf32>) -> (memref<1x4x2x14xf32>, memref<1x4x1x4xf32>)
// CHECK-NOT: "expand_grad"
// CHECK: dsx.launch "scale"(%[[UP]])
// CHECK: dsx.view %[[PE]] : memref<1x4x1x4xf32> to memref<1x4x4xf32>
dsx.program @key_grad {
  %dk = dsx.buffer input "dk" : memref<1x4x2x12xf32>
  %dv = dsx.buffer input "dv" : memref<1x4x2x6xf32>
  %dnope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%dk) -> (%dnope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x8xf32>
  %dpe = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "slice"(%dk) -> (%dpe) attrs {dim = 3 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x4xf32>
  %dup = dsx.buffer temporary : memref<1x4x2x14xf32>
  dsx.launch "concat"(%dnope, %dv) -> (%dup) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x6xf32>) -> memref<1x4x2x14xf32>
  %summed = dsx.buffer temporary : memref<1x4x1x4xf32>
  dsx.launch "expand_grad"(%dpe) -> (%summed) attrs {} : (memref<1x4x2x4xf32>) -> memref<1x4x1x4xf32>
  %back = dsx.buffer temporary : memref<1x4x1x4xf32>
  dsx.launch "rope_grad"(%summed) -> (%back) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x1x4xf32>) -> memref<1x4x1x4xf32>
  %dupOut = dsx.buffer output "d_kv_up" : memref<1x4x2x14xf32>
  dsx.launch "scale"(%dup) -> (%dupOut) attrs {factor = 1.0 : f64} : (memref<1x4x2x14xf32>) -> memref<1x4x2x14xf32>
  %back3 = dsx.buffer temporary : memref<1x4x4xf32>
  dsx.launch "reshape"(%back) -> (%back3) attrs {} : (memref<1x4x1x4xf32>) -> memref<1x4x4xf32>
  %dpeOut = dsx.buffer output "d_pe" : memref<1x4x4xf32>
  dsx.launch "scale"(%back3) -> (%dpeOut) attrs {factor = 1.0 : f64} : (memref<1x4x4xf32>) -> memref<1x4x4xf32>
}

// -----

// Without the concat that rebuilds kv_up's gradient (here dk's nope part is read twice),
// the key's backward stays as it is.

// CHECK-LABEL: dsx.program @key_grad_without_concat
// CHECK-NOT: mla_rope_key_grad
// CHECK: dsx.launch "expand_grad"
dsx.program @key_grad_without_concat {
  %dk = dsx.buffer input "dk" : memref<1x4x2x12xf32>
  %dv = dsx.buffer input "dv" : memref<1x4x2x6xf32>
  %dnope = dsx.buffer temporary : memref<1x4x2x8xf32>
  dsx.launch "slice"(%dk) -> (%dnope) attrs {dim = 3 : i64, offset = 0 : i64, size = 8 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x8xf32>
  %dpe = dsx.buffer temporary : memref<1x4x2x4xf32>
  dsx.launch "slice"(%dk) -> (%dpe) attrs {dim = 3 : i64, offset = 8 : i64, size = 4 : i64} : (memref<1x4x2x12xf32>) -> memref<1x4x2x4xf32>
  %dup = dsx.buffer output "d_kv_up" : memref<1x4x2x14xf32>
  dsx.launch "concat"(%dnope, %dv) -> (%dup) attrs {dim = 3 : i64} : (memref<1x4x2x8xf32>, memref<1x4x2x6xf32>) -> memref<1x4x2x14xf32>
  %nopeOut = dsx.buffer output "d_nope" : memref<1x4x2x8xf32>
  dsx.launch "scale"(%dnope) -> (%nopeOut) attrs {factor = 1.0 : f64} : (memref<1x4x2x8xf32>) -> memref<1x4x2x8xf32>
  %summed = dsx.buffer temporary : memref<1x4x1x4xf32>
  dsx.launch "expand_grad"(%dpe) -> (%summed) attrs {} : (memref<1x4x2x4xf32>) -> memref<1x4x1x4xf32>
  %back = dsx.buffer output "d_pe" : memref<1x4x1x4xf32>
  dsx.launch "rope_grad"(%summed) -> (%back) attrs {interleaved = true, theta = 1.0e4 : f64} : (memref<1x4x1x4xf32>) -> memref<1x4x1x4xf32>
}
