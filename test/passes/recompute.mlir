// RUN: ds-opt %s --ds-recompute | FileCheck %s
// In the pipeline it runs after CSE, which would merge the copies again:
// RUN: ds-opt %s --cse --ds-recompute | FileCheck %s

// The BF16 copy of an FP32 weight is made again right before its second (backward) user,
// so neither copy outlives its one product.
// CHECK-LABEL: func.func @weight_copy
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xbf16>, %[[W:.*]]: tensor<6x8xf32>, %[[DY:.*]]: tensor<4x6xbf16>)
// CHECK: %[[C1:.*]] = ds.convert %[[W]] : (tensor<6x8xf32>) -> tensor<6x8xbf16>
// CHECK-NEXT: %[[Y:.*]] = ds.linear %[[X]], %[[C1]]
// CHECK-NEXT: %[[S:.*]] = ds.scale %[[Y]]
// CHECK-NEXT: %[[C2:.*]] = ds.convert %[[W]] : (tensor<6x8xf32>) -> tensor<6x8xbf16>
// CHECK-NEXT: %[[DX:.*]] = ds.linear_dgrad %[[DY]], %[[C2]]
func.func @weight_copy(%x: tensor<4x8xbf16>, %w: tensor<6x8xf32>, %dy: tensor<4x6xbf16>)
    -> (tensor<4x6xbf16>, tensor<4x8xbf16>) {
  %c = ds.convert %w : (tensor<6x8xf32>) -> tensor<6x8xbf16>
  %y = ds.linear %x, %c : (tensor<4x8xbf16>, tensor<6x8xbf16>) -> tensor<4x6xbf16>
  %s = ds.scale %y {factor = 2.0 : f64} : (tensor<4x6xbf16>) -> tensor<4x6xbf16>
  %dx = ds.linear_dgrad %dy, %c : (tensor<4x6xbf16>, tensor<6x8xbf16>) -> tensor<4x8xbf16>
  return %s, %dx : tensor<4x6xbf16>, tensor<4x8xbf16>
}

// A convert with one user, and a convert of a computed value (an activation, which
// recomputing would not make cheaper to keep), are left alone.
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-2: ds.convert
// CHECK-NOT: ds.convert
// CHECK: return
func.func @left_alone(%w: tensor<6x8xf32>, %x: tensor<4x8xf32>)
    -> (tensor<6x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>) {
  %c = ds.convert %w : (tensor<6x8xf32>) -> tensor<6x8xbf16>
  %x2 = ds.scale %x {factor = 2.0 : f64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %d = ds.convert %x2 : (tensor<4x8xf32>) -> tensor<4x8xbf16>
  %e = ds.scale %d {factor = 2.0 : f64} : (tensor<4x8xbf16>) -> tensor<4x8xbf16>
  return %c, %d, %e : tensor<6x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>
}
