// Round trip of the FP8 and data-movement ops.
// RUN: ds-opt %s | ds-opt | FileCheck %s

// CHECK-LABEL: func.func @quantize(
// CHECK: %{{.*}}, %{{.*}} = ds.quantize %{{.*}} {block = array<i64: 1, 128>} : (tensor<4x256xbf16>) -> (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>)
// CHECK: %{{.*}}, %{{.*}} = ds.quantize %{{.*}} {block = array<i64: 128, 128>} : (tensor<200x300xf32>) -> (tensor<200x300xf8E4M3FN>, tensor<2x3xf32>)
// Activations in 1x128 tiles, weights in 128x128 blocks (V3 report §3.3.2); a partial
// block at the edge gets its own scale.
func.func @quantize(%a: tensor<4x256xbf16>, %w: tensor<200x300xf32>) -> (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>, tensor<200x300xf8E4M3FN>, tensor<2x3xf32>) {
  %av, %as = ds.quantize %a {block = array<i64: 1, 128>} : (tensor<4x256xbf16>) -> (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>)
  %wv, %ws = ds.quantize %w {block = array<i64: 128, 128>} : (tensor<200x300xf32>) -> (tensor<200x300xf8E4M3FN>, tensor<2x3xf32>)
  return %av, %as, %wv, %ws : tensor<4x256xf8E4M3FN>, tensor<4x2xf32>, tensor<200x300xf8E4M3FN>, tensor<2x3xf32>
}

// CHECK-LABEL: func.func @dequantize(
// CHECK: %{{.*}} = ds.dequantize %{{.*}}, %{{.*}} {block = array<i64: 1, 128>} : (tensor<2x4x256xf8E4M3FN>, tensor<2x4x2xf32>) -> tensor<2x4x256xbf16>
func.func @dequantize(%v: tensor<2x4x256xf8E4M3FN>, %s: tensor<2x4x2xf32>) -> tensor<2x4x256xbf16> {
  %y = ds.dequantize %v, %s {block = array<i64: 1, 128>} : (tensor<2x4x256xf8E4M3FN>, tensor<2x4x2xf32>) -> tensor<2x4x256xbf16>
  return %y : tensor<2x4x256xbf16>
}

// CHECK-LABEL: func.func @slice(
// CHECK: %{{.*}} = ds.slice %{{.*}} {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
// The model reads tokens[:, 0:S] of the token window.
func.func @slice(%tokens: tensor<2x5xi32>) -> tensor<2x4xi32> {
  %y = ds.slice %tokens {dim = 1 : i64, offset = 0 : i64, size = 4 : i64} : (tensor<2x5xi32>) -> tensor<2x4xi32>
  return %y : tensor<2x4xi32>
}

// CHECK-LABEL: func.func @concat(
// CHECK: %{{.*}} = ds.concat %{{.*}}, %{{.*}} {dim = 2 : i64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x24xf32>
func.func @concat(%a: tensor<2x4x16xf32>, %b: tensor<2x4x8xf32>) -> tensor<2x4x24xf32> {
  %y = ds.concat %a, %b {dim = 2 : i64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>) -> tensor<2x4x24xf32>
  return %y : tensor<2x4x24xf32>
}

// CHECK-LABEL: func.func @reshape(
// CHECK: %{{.*}} = ds.reshape %{{.*}} : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
func.func @reshape(%x: tensor<2x4x16xf32>) -> tensor<8x16xf32> {
  %y = ds.reshape %x : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// CHECK-LABEL: func.func @expand(
// CHECK: %{{.*}} = ds.expand %{{.*}} : (tensor<2x1x16xf32>) -> tensor<2x4x16xf32>
func.func @expand(%x: tensor<2x1x16xf32>) -> tensor<2x4x16xf32> {
  %y = ds.expand %x : (tensor<2x1x16xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}
