// RUN: ds-opt %s --split-input-file --ds-fuse | FileCheck %s

// ds-fp8-cast's operand round trip: the FP8 values and scales only feed the dequantize,
// so the pair is one quantize_dequantize that keeps the block attribute.

// CHECK-LABEL: dsx.program @round_trip
// CHECK: %[[X:.*]] = dsx.buffer input "x" : memref<4x256xf32>
// CHECK-NOT: f8E4M3FN
// CHECK: %[[Q:.*]] = dsx.buffer temporary : memref<4x256xf32>
// CHECK: dsx.launch "quantize_dequantize"(%[[X]]) -> (%[[Q]]) attrs {block = array<i64: 1, 128>} : (memref<4x256xf32>) -> memref<4x256xf32>
// CHECK-NOT: "quantize"
// CHECK-NOT: "dequantize"
// CHECK: dsx.launch "linear"(%[[Q]],
dsx.program @round_trip {
  %x = dsx.buffer input "x" : memref<4x256xf32>
  %w = dsx.buffer param "w" {init = "normal"} : memref<8x256xf32>
  %v = dsx.buffer temporary : memref<4x256xf8E4M3FN>
  %s = dsx.buffer temporary : memref<4x2xf32>
  dsx.launch "quantize"(%x) -> (%v, %s) attrs {block = array<i64: 1, 128>} : (memref<4x256xf32>) -> (memref<4x256xf8E4M3FN>, memref<4x2xf32>)
  %q = dsx.buffer temporary : memref<4x256xf32>
  dsx.launch "dequantize"(%v, %s) -> (%q) attrs {block = array<i64: 1, 128>} : (memref<4x256xf8E4M3FN>, memref<4x2xf32>) -> memref<4x256xf32>
  %y = dsx.buffer output "y" : memref<4x8xf32>
  dsx.launch "linear"(%q, %w) -> (%y) attrs {} : (memref<4x256xf32>, memref<8x256xf32>) -> memref<4x8xf32>
}

// -----

// The scales are read again elsewhere: the pair must stay, since the fused kernel would
// not write them.

// CHECK-LABEL: dsx.program @scales_read_elsewhere
// CHECK: dsx.launch "quantize"
// CHECK: dsx.launch "dequantize"
// CHECK-NOT: quantize_dequantize
dsx.program @scales_read_elsewhere {
  %x = dsx.buffer input "x" : memref<4x256xf32>
  %v = dsx.buffer temporary : memref<4x256xf8E4M3FN>
  %s = dsx.buffer temporary : memref<4x2xf32>
  dsx.launch "quantize"(%x) -> (%v, %s) attrs {block = array<i64: 1, 128>} : (memref<4x256xf32>) -> (memref<4x256xf8E4M3FN>, memref<4x2xf32>)
  %q = dsx.buffer output "q" : memref<4x256xf32>
  dsx.launch "dequantize"(%v, %s) -> (%q) attrs {block = array<i64: 1, 128>} : (memref<4x256xf8E4M3FN>, memref<4x2xf32>) -> memref<4x256xf32>
  %t = dsx.buffer output "t" : memref<4x2xf32>
  dsx.launch "scale"(%s) -> (%t) attrs {factor = 2.0 : f64} : (memref<4x2xf32>) -> memref<4x2xf32>
}

// -----

// BF16 scales: quantize rounds the stored scale, which the fused kernel would not; the
// pair stays.

// CHECK-LABEL: dsx.program @bf16_scales
// CHECK: dsx.launch "quantize"
// CHECK-NOT: quantize_dequantize
dsx.program @bf16_scales {
  %x = dsx.buffer input "x" : memref<4x256xf32>
  %v = dsx.buffer temporary : memref<4x256xf8E4M3FN>
  %s = dsx.buffer temporary : memref<4x2xbf16>
  dsx.launch "quantize"(%x) -> (%v, %s) attrs {block = array<i64: 1, 128>} : (memref<4x256xf32>) -> (memref<4x256xf8E4M3FN>, memref<4x2xbf16>)
  %q = dsx.buffer output "q" : memref<4x256xf32>
  dsx.launch "dequantize"(%v, %s) -> (%q) attrs {block = array<i64: 1, 128>} : (memref<4x256xf8E4M3FN>, memref<4x2xbf16>) -> memref<4x256xf32>
}
