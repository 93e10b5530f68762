// RUN: ds-opt %s --split-input-file --ds-plan-memory | FileCheck %s

// cross_entropy_grad reads each logit before writing its gradient, so when the logits die
// at that launch the gradient takes their bytes: one 4 KiB buffer where two would be live.

// CHECK-LABEL: dsx.program @shares
// CHECK: dsx.buffer temporary at [[LOGITS:[0-9]+]] : memref<32x32xf32>
// CHECK: dsx.buffer temporary at [[LOGITS]] : memref<32x32xf32>
dsx.program @shares {
  %x = dsx.buffer input "x" : memref<32x32xf32>
  %labels = dsx.buffer input "labels" : memref<32xi32>
  %seed = dsx.buffer input "seed" : memref<f32>
  %logits = dsx.buffer temporary : memref<32x32xf32>
  dsx.launch "scale"(%x) -> (%logits) attrs {factor = 2.0 : f64} : (memref<32x32xf32>) -> memref<32x32xf32>
  %dlogits = dsx.buffer temporary : memref<32x32xf32>
  dsx.launch "cross_entropy_grad"(%logits, %labels, %seed) -> (%dlogits) attrs {} : (memref<32x32xf32>, memref<32xi32>, memref<f32>) -> memref<32x32xf32>
  %y = dsx.buffer output "y" : memref<32x32xf32>
  dsx.launch "scale"(%dlogits) -> (%y) attrs {factor = 2.0 : f64} : (memref<32x32xf32>) -> memref<32x32xf32>
}

// -----

// The logits are read again after cross_entropy_grad: they stay live, and the gradient
// gets bytes of its own.

// CHECK-LABEL: dsx.program @still_read
// CHECK: dsx.buffer temporary at [[LOGITS:[0-9]+]] : memref<32x32xf32>
// CHECK-NOT: dsx.buffer temporary at [[LOGITS]]
// CHECK: dsx.buffer output "y"
dsx.program @still_read {
  %x = dsx.buffer input "x" : memref<32x32xf32>
  %labels = dsx.buffer input "labels" : memref<32xi32>
  %seed = dsx.buffer input "seed" : memref<f32>
  %logits = dsx.buffer temporary : memref<32x32xf32>
  dsx.launch "scale"(%x) -> (%logits) attrs {factor = 2.0 : f64} : (memref<32x32xf32>) -> memref<32x32xf32>
  %dlogits = dsx.buffer temporary : memref<32x32xf32>
  dsx.launch "cross_entropy_grad"(%logits, %labels, %seed) -> (%dlogits) attrs {} : (memref<32x32xf32>, memref<32xi32>, memref<f32>) -> memref<32x32xf32>
  %y = dsx.buffer output "y" : memref<32x32xf32>
  dsx.launch "add"(%dlogits, %logits) -> (%y) attrs {} : (memref<32x32xf32>, memref<32x32xf32>) -> memref<32x32xf32>
}

// -----

// A BF16 gradient of FP32 logits has other element sizes: never in place.

// CHECK-LABEL: dsx.program @other_type
// CHECK: dsx.buffer temporary at [[LOGITS:[0-9]+]] : memref<32x32xf32>
// CHECK-NOT: dsx.buffer temporary at [[LOGITS]] : memref<32x32xbf16>
// CHECK: dsx.buffer output "y"
dsx.program @other_type {
  %x = dsx.buffer input "x" : memref<32x32xf32>
  %labels = dsx.buffer input "labels" : memref<32xi32>
  %seed = dsx.buffer input "seed" : memref<f32>
  %logits = dsx.buffer temporary : memref<32x32xf32>
  dsx.launch "scale"(%x) -> (%logits) attrs {factor = 2.0 : f64} : (memref<32x32xf32>) -> memref<32x32xf32>
  %dlogits = dsx.buffer temporary : memref<32x32xbf16>
  dsx.launch "cross_entropy_grad"(%logits, %labels, %seed) -> (%dlogits) attrs {} : (memref<32x32xf32>, memref<32xi32>, memref<f32>) -> memref<32x32xbf16>
  %y = dsx.buffer output "y" : memref<32x32xbf16>
  dsx.launch "scale"(%dlogits) -> (%y) attrs {factor = 2.0 : f64} : (memref<32x32xbf16>) -> memref<32x32xbf16>
}
