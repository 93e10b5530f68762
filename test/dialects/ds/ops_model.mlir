// Round trip of the dense model primitives.
// RUN: ds-opt %s | ds-opt | FileCheck %s

// CHECK-LABEL: func.func @embedding(
// CHECK: %{{.*}} = ds.embedding %{{.*}}, %{{.*}} : (tensor<2x4xi32>, tensor<32x16xf32>) -> tensor<2x4x16xf32>
func.func @embedding(%ids: tensor<2x4xi32>, %table: tensor<32x16xf32>) -> tensor<2x4x16xf32> {
  %y = ds.embedding %ids, %table : (tensor<2x4xi32>, tensor<32x16xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// CHECK-LABEL: func.func @rms_norm(
// CHECK: %{{.*}} = ds.rms_norm %{{.*}}, %{{.*}} {eps = 9.9999999999999995E-7 : f64} : (tensor<2x4x16xbf16>, tensor<16xbf16>) -> tensor<2x4x16xbf16>
func.func @rms_norm(%x: tensor<2x4x16xbf16>, %w: tensor<16xbf16>) -> tensor<2x4x16xbf16> {
  %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x4x16xbf16>, tensor<16xbf16>) -> tensor<2x4x16xbf16>
  return %y : tensor<2x4x16xbf16>
}

// CHECK-LABEL: func.func @linear(
// CHECK: %{{.*}} = ds.linear %{{.*}}, %{{.*}} : (tensor<2x4x16xf32>, tensor<8x16xf32>) -> tensor<2x4x8xf32>
// CHECK: %{{.*}} = ds.linear %{{.*}}, %{{.*}} : (tensor<8x16xbf16>, tensor<4x16xbf16>) -> tensor<8x4xbf16>
func.func @linear(%x: tensor<2x4x16xf32>, %w: tensor<8x16xf32>, %x2: tensor<8x16xbf16>, %w2: tensor<4x16xbf16>) -> (tensor<2x4x8xf32>, tensor<8x4xbf16>) {
  %y = ds.linear %x, %w : (tensor<2x4x16xf32>, tensor<8x16xf32>) -> tensor<2x4x8xf32>
  %y2 = ds.linear %x2, %w2 : (tensor<8x16xbf16>, tensor<4x16xbf16>) -> tensor<8x4xbf16>
  return %y, %y2 : tensor<2x4x8xf32>, tensor<8x4xbf16>
}

// CHECK-LABEL: func.func @rope(
// CHECK: %{{.*}} = ds.rope %{{.*}} {interleaved = true, theta = 1.000000e+04 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
// CHECK: %{{.*}} = ds.rope %{{.*}} {theta = 1.000000e+04 : f64, yarn_attention_factor = 1.300000e+00 : f64, yarn_factor = 4.000000e+01 : f64, yarn_original_max_position = 4096 : i64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
func.func @rope(%x: tensor<2x4x2x8xf32>) -> (tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>) {
  %y = ds.rope %x {theta = 10000.0 : f64, interleaved = true} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  %z = ds.rope %x {theta = 10000.0 : f64, yarn_factor = 40.0 : f64, yarn_original_max_position = 4096 : i64, yarn_beta_fast = 32.0 : f64, yarn_beta_slow = 1.0 : f64, yarn_attention_factor = 1.3 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return %y, %z : tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>
}

// CHECK-LABEL: func.func @attention(
// CHECK: %{{.*}} = ds.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 0.40824829000000001 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
// The query/key head dim (nope + rope) differs from the value head dim, as in MLA.
func.func @attention(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32> {
  %y = ds.attention %q, %k, %v {scale = 0.40824829 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return %y : tensor<2x4x2x4xf32>
}

// CHECK-LABEL: func.func @swiglu(
// CHECK: %{{.*}} = ds.swiglu %{{.*}} : (tensor<2x4x8xf32>) -> tensor<2x4x4xf32>
func.func @swiglu(%gu: tensor<2x4x8xf32>) -> tensor<2x4x4xf32> {
  %y = ds.swiglu %gu : (tensor<2x4x8xf32>) -> tensor<2x4x4xf32>
  return %y : tensor<2x4x4xf32>
}

// CHECK-LABEL: func.func @elementwise(
// CHECK: %{{.*}} = ds.add %{{.*}}, %{{.*}} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
// CHECK: %{{.*}} = ds.mul %{{.*}}, %{{.*}} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
// CHECK: %{{.*}} = ds.scale %{{.*}} {factor = 2.500000e+00 : f64} : (tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
func.func @elementwise(%a: tensor<2x4x16xf32>, %b: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  %s = ds.add %a, %b : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %p = ds.mul %s, %b : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %y = ds.scale %p {factor = 2.5 : f64} : (tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// CHECK-LABEL: func.func @convert(
// CHECK: %{{.*}} = ds.convert %{{.*}} : (tensor<2x4x16xf32>) -> tensor<2x4x16xbf16>
// CHECK: %{{.*}} = ds.convert %{{.*}} : (tensor<2x4x16xbf16>) -> tensor<2x4x16xf32>
func.func @convert(%x: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  %b = ds.convert %x : (tensor<2x4x16xf32>) -> tensor<2x4x16xbf16>
  %y = ds.convert %b : (tensor<2x4x16xbf16>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// CHECK-LABEL: func.func @cross_entropy(
// CHECK: %{{.*}} = ds.cross_entropy %{{.*}}, %{{.*}} {ignore_index = -1 : i64} : (tensor<2x4x32xf32>, tensor<2x4xi32>) -> tensor<f32>
func.func @cross_entropy(%logits: tensor<2x4x32xf32>, %labels: tensor<2x4xi32>) -> tensor<f32> {
  %l = ds.cross_entropy %logits, %labels {ignore_index = -1 : i64} : (tensor<2x4x32xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %l : tensor<f32>
}
