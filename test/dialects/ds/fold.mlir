// The folds of the ds ops: each removes only work that is the identity, never changes a
// value. The cases that must NOT fold are checked too.
// RUN: ds-opt %s -canonicalize | FileCheck %s

// CHECK-LABEL: func.func @reshape_to_same_type(
// CHECK-SAME: %[[X:.*]]: tensor<2x4xf32>
// CHECK-NOT: ds.reshape
// CHECK: return %[[X]]
func.func @reshape_to_same_type(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %y = ds.reshape %x : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @reshape_of_reshape(
// CHECK-SAME: %[[X:.*]]: tensor<2x4x16xf32>
// CHECK-NEXT: %[[Y:.*]] = ds.reshape %[[X]] : (tensor<2x4x16xf32>) -> tensor<128xf32>
// CHECK-NEXT: return %[[Y]]
func.func @reshape_of_reshape(%x: tensor<2x4x16xf32>) -> tensor<128xf32> {
  %a = ds.reshape %x : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
  %b = ds.reshape %a : (tensor<8x16xf32>) -> tensor<128xf32>
  return %b : tensor<128xf32>
}

// CHECK-LABEL: func.func @reshape_round_trip(
// CHECK-SAME: %[[X:.*]]: tensor<2x4x16xf32>
// CHECK-NOT: ds.reshape
// CHECK: return %[[X]]
func.func @reshape_round_trip(%x: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  %a = ds.reshape %x : (tensor<2x4x16xf32>) -> tensor<8x16xf32>
  %b = ds.reshape %a : (tensor<8x16xf32>) -> tensor<2x4x16xf32>
  return %b : tensor<2x4x16xf32>
}

// CHECK-LABEL: func.func @scale_by_one(
// CHECK-SAME: %[[X:.*]]: tensor<2x4xf32>
// CHECK-NOT: ds.scale
// CHECK: return %[[X]]
func.func @scale_by_one(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %y = ds.scale %x {factor = 1.0 : f64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @scale_by_two_stays(
// CHECK: ds.scale %{{.*}} {factor = 2.000000e+00 : f64}
func.func @scale_by_two_stays(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %y = ds.scale %x {factor = 2.0 : f64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @convert_to_same_type(
// CHECK-SAME: %[[X:.*]]: tensor<2x4xbf16>
// CHECK-NOT: ds.convert
// CHECK: return %[[X]]
func.func @convert_to_same_type(%x: tensor<2x4xbf16>) -> tensor<2x4xbf16> {
  %y = ds.convert %x : (tensor<2x4xbf16>) -> tensor<2x4xbf16>
  return %y : tensor<2x4xbf16>
}

// bf16 -> f32 is exact, so converting back gives the original value.
// CHECK-LABEL: func.func @convert_widen_and_back(
// CHECK-SAME: %[[X:.*]]: tensor<2x4xbf16>
// CHECK-NOT: ds.convert
// CHECK: return %[[X]]
func.func @convert_widen_and_back(%x: tensor<2x4xbf16>) -> tensor<2x4xbf16> {
  %w = ds.convert %x : (tensor<2x4xbf16>) -> tensor<2x4xf32>
  %y = ds.convert %w : (tensor<2x4xf32>) -> tensor<2x4xbf16>
  return %y : tensor<2x4xbf16>
}

// f32 -> bf16 rounds, so the round trip is not the identity and must stay.
// CHECK-LABEL: func.func @convert_narrow_and_back_stays(
// CHECK: ds.convert %{{.*}} : (tensor<2x4xf32>) -> tensor<2x4xbf16>
// CHECK: ds.convert %{{.*}} : (tensor<2x4xbf16>) -> tensor<2x4xf32>
func.func @convert_narrow_and_back_stays(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %n = ds.convert %x : (tensor<2x4xf32>) -> tensor<2x4xbf16>
  %y = ds.convert %n : (tensor<2x4xbf16>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @slice_whole_dimension(
// CHECK-SAME: %[[X:.*]]: tensor<2x5xi32>
// CHECK-NOT: ds.slice
// CHECK: return %[[X]]
func.func @slice_whole_dimension(%x: tensor<2x5xi32>) -> tensor<2x5xi32> {
  %y = ds.slice %x {dim = 1 : i64, offset = 0 : i64, size = 5 : i64} : (tensor<2x5xi32>) -> tensor<2x5xi32>
  return %y : tensor<2x5xi32>
}

// CHECK-LABEL: func.func @slice_of_slice(
// CHECK-SAME: %[[X:.*]]: tensor<2x16xf32>
// CHECK-NEXT: %[[Y:.*]] = ds.slice %[[X]] {dim = 1 : i64, offset = 5 : i64, size = 4 : i64} : (tensor<2x16xf32>) -> tensor<2x4xf32>
// CHECK-NEXT: return %[[Y]]
func.func @slice_of_slice(%x: tensor<2x16xf32>) -> tensor<2x4xf32> {
  %a = ds.slice %x {dim = 1 : i64, offset = 2 : i64, size = 10 : i64} : (tensor<2x16xf32>) -> tensor<2x10xf32>
  %b = ds.slice %a {dim = 1 : i64, offset = 3 : i64, size = 4 : i64} : (tensor<2x10xf32>) -> tensor<2x4xf32>
  return %b : tensor<2x4xf32>
}

// Slices of different dimensions do not combine into one.
// CHECK-LABEL: func.func @slices_of_two_dims_stay(
// CHECK: ds.slice %{{.*}} {dim = 1 : i64, offset = 2 : i64, size = 10 : i64}
// CHECK: ds.slice %{{.*}} {dim = 0 : i64, offset = 1 : i64, size = 1 : i64}
func.func @slices_of_two_dims_stay(%x: tensor<2x16xf32>) -> tensor<1x10xf32> {
  %a = ds.slice %x {dim = 1 : i64, offset = 2 : i64, size = 10 : i64} : (tensor<2x16xf32>) -> tensor<2x10xf32>
  %b = ds.slice %a {dim = 0 : i64, offset = 1 : i64, size = 1 : i64} : (tensor<2x10xf32>) -> tensor<1x10xf32>
  return %b : tensor<1x10xf32>
}

// CHECK-LABEL: func.func @expand_to_same_type(
// CHECK-SAME: %[[X:.*]]: tensor<2x1x16xf32>
// CHECK-NOT: ds.expand
// CHECK: return %[[X]]
func.func @expand_to_same_type(%x: tensor<2x1x16xf32>) -> tensor<2x1x16xf32> {
  %y = ds.expand %x : (tensor<2x1x16xf32>) -> tensor<2x1x16xf32>
  return %y : tensor<2x1x16xf32>
}

// CHECK-LABEL: func.func @expand_of_expand(
// CHECK-SAME: %[[X:.*]]: tensor<1x1x16xf32>
// CHECK-NEXT: %[[Y:.*]] = ds.expand %[[X]] : (tensor<1x1x16xf32>) -> tensor<2x4x16xf32>
// CHECK-NEXT: return %[[Y]]
func.func @expand_of_expand(%x: tensor<1x1x16xf32>) -> tensor<2x4x16xf32> {
  %a = ds.expand %x : (tensor<1x1x16xf32>) -> tensor<2x1x16xf32>
  %b = ds.expand %a : (tensor<2x1x16xf32>) -> tensor<2x4x16xf32>
  return %b : tensor<2x4x16xf32>
}
