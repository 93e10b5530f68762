// RUN: ds-opt %s --split-input-file --ds-fuse | FileCheck %s

// The gradient of two slices that tile a dimension: each slice_grad writes its part and
// zeros, the add sums them; one concat writes the same values.

// CHECK-LABEL: dsx.program @tiling_slice_grads
// CHECK: %[[A:.*]] = dsx.buffer input "a" : memref<2x4xf32>
// CHECK: %[[B:.*]] = dsx.buffer input "b" : memref<2x3xf32>
// CHECK-NOT: "slice_grad"
// CHECK-NOT: "add"
// CHECK: dsx.launch "concat"(%[[A]], %[[B]]) -> (%{{.*}}) attrs {dim = 1 : i64} : (memref<2x4xf32>, memref<2x3xf32>) -> memref<2x7xf32>
dsx.program @tiling_slice_grads {
  %a = dsx.buffer input "a" : memref<2x4xf32>
  %b = dsx.buffer input "b" : memref<2x3xf32>
  // The add's operands come in the other order: the concat follows the offsets.
  %gb = dsx.buffer temporary : memref<2x7xf32>
  dsx.launch "slice_grad"(%b) -> (%gb) attrs {dim = 1 : i64, offset = 4 : i64} : (memref<2x3xf32>) -> memref<2x7xf32>
  %ga = dsx.buffer temporary : memref<2x7xf32>
  dsx.launch "slice_grad"(%a) -> (%ga) attrs {dim = -1 : i64, offset = 0 : i64} : (memref<2x4xf32>) -> memref<2x7xf32>
  %sum = dsx.buffer output "g" : memref<2x7xf32>
  dsx.launch "add"(%gb, %ga) -> (%sum) attrs {} : (memref<2x7xf32>, memref<2x7xf32>) -> memref<2x7xf32>
}

// -----

// Slices that leave a gap: the add's zeros there have no concat.

// CHECK-LABEL: dsx.program @gap
// CHECK-COUNT-2: dsx.launch "slice_grad"
// CHECK: dsx.launch "add"
dsx.program @gap {
  %a = dsx.buffer input "a" : memref<2x3xf32>
  %b = dsx.buffer input "b" : memref<2x3xf32>
  %ga = dsx.buffer temporary : memref<2x7xf32>
  dsx.launch "slice_grad"(%a) -> (%ga) attrs {dim = 1 : i64, offset = 0 : i64} : (memref<2x3xf32>) -> memref<2x7xf32>
  %gb = dsx.buffer temporary : memref<2x7xf32>
  dsx.launch "slice_grad"(%b) -> (%gb) attrs {dim = 1 : i64, offset = 4 : i64} : (memref<2x3xf32>) -> memref<2x7xf32>
  %sum = dsx.buffer output "g" : memref<2x7xf32>
  dsx.launch "add"(%ga, %gb) -> (%sum) attrs {} : (memref<2x7xf32>, memref<2x7xf32>) -> memref<2x7xf32>
}

// -----

// A slice_grad result that another launch reads too must stay.

// CHECK-LABEL: dsx.program @slice_grad_read_twice
// CHECK-COUNT-2: dsx.launch "slice_grad"
// CHECK: dsx.launch "add"
dsx.program @slice_grad_read_twice {
  %a = dsx.buffer input "a" : memref<2x4xf32>
  %b = dsx.buffer input "b" : memref<2x3xf32>
  %ga = dsx.buffer temporary : memref<2x7xf32>
  dsx.launch "slice_grad"(%a) -> (%ga) attrs {dim = 1 : i64, offset = 0 : i64} : (memref<2x4xf32>) -> memref<2x7xf32>
  %gb = dsx.buffer temporary : memref<2x7xf32>
  dsx.launch "slice_grad"(%b) -> (%gb) attrs {dim = 1 : i64, offset = 4 : i64} : (memref<2x3xf32>) -> memref<2x7xf32>
  %sum = dsx.buffer output "g" : memref<2x7xf32>
  dsx.launch "add"(%ga, %gb) -> (%sum) attrs {} : (memref<2x7xf32>, memref<2x7xf32>) -> memref<2x7xf32>
  %again = dsx.buffer output "h" : memref<2x7xf32>
  dsx.launch "scale"(%ga) -> (%again) attrs {factor = 2.0 : f64} : (memref<2x7xf32>) -> memref<2x7xf32>
}

// -----

// Slices of different dimensions do not tile one.

// CHECK-LABEL: dsx.program @different_dims
// CHECK-COUNT-2: dsx.launch "slice_grad"
// CHECK: dsx.launch "add"
dsx.program @different_dims {
  %a = dsx.buffer input "a" : memref<2x2xf32>
  %b = dsx.buffer input "b" : memref<1x2xf32>
  %ga = dsx.buffer temporary : memref<2x2xf32>
  dsx.launch "slice_grad"(%a) -> (%ga) attrs {dim = 1 : i64, offset = 0 : i64} : (memref<2x2xf32>) -> memref<2x2xf32>
  %gb = dsx.buffer temporary : memref<2x2xf32>
  dsx.launch "slice_grad"(%b) -> (%gb) attrs {dim = 0 : i64, offset = 1 : i64} : (memref<1x2xf32>) -> memref<2x2xf32>
  %sum = dsx.buffer output "g" : memref<2x2xf32>
  dsx.launch "add"(%ga, %gb) -> (%sum) attrs {} : (memref<2x2xf32>, memref<2x2xf32>) -> memref<2x2xf32>
}

// -----

// A slice_grad that rounds its f32 part to bf16 is not a copy: the add sums the rounded
// value, a concat would store the unrounded one.

// CHECK-LABEL: dsx.program @rounding_slice_grad
// CHECK-NOT: "concat"
// CHECK: dsx.launch "add"
dsx.program @rounding_slice_grad {
  %a = dsx.buffer input "a" : memref<2x4xf32>
  %b = dsx.buffer input "b" : memref<2x3xf32>
  %ga = dsx.buffer temporary : memref<2x7xbf16>
  dsx.launch "slice_grad"(%a) -> (%ga) attrs {dim = 1 : i64, offset = 0 : i64} : (memref<2x4xf32>) -> memref<2x7xbf16>
  %gb = dsx.buffer temporary : memref<2x7xf32>
  dsx.launch "slice_grad"(%b) -> (%gb) attrs {dim = 1 : i64, offset = 4 : i64} : (memref<2x3xf32>) -> memref<2x7xf32>
  %sum = dsx.buffer output "g" : memref<2x7xf32>
  dsx.launch "add"(%ga, %gb) -> (%sum) attrs {} : (memref<2x7xbf16>, memref<2x7xf32>) -> memref<2x7xf32>
}
