// RUN: ds-opt %s --split-input-file --ds-fuse | FileCheck %s

// A reshape of a temporary moves no bytes: it becomes a view, its launch and its buffer go.

// CHECK-LABEL: dsx.program @reshape_to_view
// CHECK: %[[A:.*]] = dsx.buffer temporary : memref<2x6xf32>
// CHECK-NOT: "reshape"
// CHECK: %[[V:.*]] = dsx.view %[[A]] : memref<2x6xf32> to memref<3x4xf32>
// CHECK: dsx.launch "scale"(%[[V]]) -> (%{{.*}}) attrs {factor = 2.000000e+00 : f64} : (memref<3x4xf32>) -> memref<3x4xf32>
dsx.program @reshape_to_view {
  %x = dsx.buffer input "x" : memref<2x6xf32>
  %a = dsx.buffer temporary : memref<2x6xf32>
  dsx.launch "scale"(%x) -> (%a) attrs {factor = 2.0 : f64} : (memref<2x6xf32>) -> memref<2x6xf32>
  %r = dsx.buffer temporary : memref<3x4xf32>
  dsx.launch "reshape"(%a) -> (%r) attrs {} : (memref<2x6xf32>) -> memref<3x4xf32>
  %y = dsx.buffer output "y" : memref<3x4xf32>
  dsx.launch "scale"(%r) -> (%y) attrs {factor = 2.0 : f64} : (memref<3x4xf32>) -> memref<3x4xf32>
}

// -----

// A reshape of a reshape views the buffer that holds the bytes, never a view; the
// intermediate view, read by nothing any more, goes.

// CHECK-LABEL: dsx.program @reshape_of_reshape
// CHECK: %[[A:.*]] = dsx.buffer temporary : memref<2x6xf32>
// CHECK-NOT: memref<3x4xf32>
// CHECK: %[[W:.*]] = dsx.view %[[A]] : memref<2x6xf32> to memref<12xf32>
// CHECK: dsx.launch "scale"(%[[W]])
dsx.program @reshape_of_reshape {
  %x = dsx.buffer input "x" : memref<2x6xf32>
  %a = dsx.buffer temporary : memref<2x6xf32>
  dsx.launch "scale"(%x) -> (%a) attrs {factor = 2.0 : f64} : (memref<2x6xf32>) -> memref<2x6xf32>
  %r = dsx.buffer temporary : memref<3x4xf32>
  dsx.launch "reshape"(%a) -> (%r) attrs {} : (memref<2x6xf32>) -> memref<3x4xf32>
  %s = dsx.buffer temporary : memref<12xf32>
  dsx.launch "reshape"(%r) -> (%s) attrs {} : (memref<3x4xf32>) -> memref<12xf32>
  %y = dsx.buffer output "y" : memref<12xf32>
  dsx.launch "scale"(%s) -> (%y) attrs {factor = 2.0 : f64} : (memref<12xf32>) -> memref<12xf32>
}

// -----

// Reshapes that must keep their launch: of persistent bytes (plans keep views in the
// arena), onto an output (the runtime reads it by name), converting f32 to bf16 (that
// computes), and the source of a dsx.update (which copies a buffer of its own).

// CHECK-LABEL: dsx.program @reshapes_that_stay
// CHECK-NOT: dsx.view
// CHECK-COUNT-4: dsx.launch "reshape"
dsx.program @reshapes_that_stay {
  %x = dsx.buffer input "x" : memref<2x6xf32>
  %w = dsx.buffer param "w" {init = "zeros"} : memref<12xf32>
  %fromInput = dsx.buffer temporary : memref<12xf32>
  dsx.launch "reshape"(%x) -> (%fromInput) attrs {} : (memref<2x6xf32>) -> memref<12xf32>
  %a = dsx.buffer temporary : memref<2x6xf32>
  dsx.launch "scale"(%x) -> (%a) attrs {factor = 2.0 : f64} : (memref<2x6xf32>) -> memref<2x6xf32>
  %toOutput = dsx.buffer output "y" : memref<3x4xf32>
  dsx.launch "reshape"(%a) -> (%toOutput) attrs {} : (memref<2x6xf32>) -> memref<3x4xf32>
  %converted = dsx.buffer temporary : memref<12xbf16>
  dsx.launch "reshape"(%a) -> (%converted) attrs {} : (memref<2x6xf32>) -> memref<12xbf16>
  %z = dsx.buffer output "z" : memref<12xbf16>
  dsx.launch "scale"(%converted) -> (%z) attrs {factor = 1.0 : f64} : (memref<12xbf16>) -> memref<12xbf16>
  %newWeight = dsx.buffer temporary : memref<12xf32>
  dsx.launch "reshape"(%a) -> (%newWeight) attrs {} : (memref<2x6xf32>) -> memref<12xf32>
  %u = dsx.buffer output "u" : memref<12xf32>
  dsx.launch "scale"(%fromInput) -> (%u) attrs {factor = 1.0 : f64} : (memref<12xf32>) -> memref<12xf32>
  dsx.update %newWeight to %w : memref<12xf32>
}
