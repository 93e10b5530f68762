// RUN: ds-opt %s -split-input-file | ds-opt -split-input-file | FileCheck %s

// CHECK-LABEL: dsx.program @step
// CHECK: dsx.buffer input "tokens" at 0 : memref<2x5xi32>
// CHECK: dsx.buffer param "w" at 64 {init = "normal"} : memref<4x8xf32>
// CHECK: dsx.launch "fill"() -> (%{{.*}}) attrs {value = 2.500000e-01 : f64} : () -> memref<4x8xf32>
// CHECK: dsx.launch "add"(%{{.*}}, %{{.*}}) -> (%{{.*}}) attrs {} : (memref<4x8xf32>, memref<4x8xf32>) -> memref<4x8xf32>
// CHECK: dsx.update %{{.*}} to %{{.*}} : memref<4x8xf32>
module {
  dsx.program @step attributes {arena_bytes = 512 : i64, persistent_bytes = 192 : i64} {
    %0 = dsx.buffer input "tokens" at 0 : memref<2x5xi32>
    %1 = dsx.buffer param "w" at 64 {init = "normal"} : memref<4x8xf32>
    %2 = dsx.buffer temporary "half" at 192 : memref<4x8xf32>
    %3 = dsx.buffer temporary "sum" at 320 : memref<4x8xf32>
    dsx.launch "fill"() -> (%2) attrs {value = 2.500000e-01 : f64} : () -> memref<4x8xf32>
    dsx.launch "add"(%1, %2) -> (%3) attrs {} : (memref<4x8xf32>, memref<4x8xf32>) -> memref<4x8xf32>
    dsx.update %3 to %1 : memref<4x8xf32>
  }
}

// -----

// CHECK-LABEL: dsx.program @views
// CHECK: %[[T:.*]] = dsx.buffer temporary : memref<2x3x4xf32>
// CHECK: %[[V:.*]] = dsx.view %[[T]] : memref<2x3x4xf32> to memref<6x4xf32>
// CHECK: dsx.launch "scale"(%[[V]]) -> (%{{.*}}) attrs {factor = 2.000000e+00 : f64} : (memref<6x4xf32>) -> memref<6x4xf32>
module {
  dsx.program @views {
    %0 = dsx.buffer input "x" : memref<2x3x4xf32>
    %1 = dsx.buffer temporary : memref<2x3x4xf32>
    dsx.launch "scale"(%0) -> (%1) attrs {factor = 2.0 : f64} : (memref<2x3x4xf32>) -> memref<2x3x4xf32>
    %2 = dsx.view %1 : memref<2x3x4xf32> to memref<6x4xf32>
    %3 = dsx.buffer output "y" : memref<6x4xf32>
    dsx.launch "scale"(%2) -> (%3) attrs {factor = 2.0 : f64} : (memref<6x4xf32>) -> memref<6x4xf32>
  }
}
