// RUN: ds-opt %s --ds-plan-memory | FileCheck %s

// A dsx.view has no bytes of its own: launch 3 reads %a through its view, so %a stays live
// until then and %c, written at launch 2, may not take its bytes (without the view it
// would: %a is otherwise dead after launch 1). The view itself gets no offset; the plan
// serializer gives it its source's.

// CHECK-LABEL: dsx.program @train_step attributes {arena_bytes = 16384 : i64, persistent_bytes = 4096 : i64}
// CHECK: %[[A:.*]] = dsx.buffer temporary at [[A_AT:[0-9]+]] : memref<1024xf32>
// CHECK: dsx.buffer temporary at {{[0-9]+}} : memref<1024xf32>
// CHECK-NOT: at [[A_AT]]
// CHECK: dsx.view %[[A]] : memref<1024xf32> to memref<32x32xf32>
// CHECK: dsx.buffer output "e" at [[A_AT]]
dsx.program @train_step {
  %x = dsx.buffer input "x" : memref<1024xf32>
  %a = dsx.buffer temporary : memref<1024xf32>
  dsx.launch "scale"(%x) -> (%a) attrs {factor = 2.0 : f64} : (memref<1024xf32>) -> memref<1024xf32>
  %b = dsx.buffer temporary : memref<1024xf32>
  dsx.launch "scale"(%a) -> (%b) attrs {factor = 2.0 : f64} : (memref<1024xf32>) -> memref<1024xf32>
  %c = dsx.buffer temporary : memref<1024xf32>
  dsx.launch "scale"(%b) -> (%c) attrs {factor = 2.0 : f64} : (memref<1024xf32>) -> memref<1024xf32>
  %v = dsx.view %a : memref<1024xf32> to memref<32x32xf32>
  %d = dsx.buffer output "d" : memref<32x32xf32>
  dsx.launch "scale"(%v) -> (%d) attrs {factor = 2.0 : f64} : (memref<32x32xf32>) -> memref<32x32xf32>
  %e = dsx.buffer output "e" : memref<1024xf32>
  dsx.launch "scale"(%c) -> (%e) attrs {factor = 2.0 : f64} : (memref<1024xf32>) -> memref<1024xf32>
}
