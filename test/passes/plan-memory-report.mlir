// RUN: ds-opt %s --ds-lower-to-exec --ds-plan-memory=report=true --verify-diagnostics -o /dev/null
// RUN: not ds-opt %s --ds-lower-to-exec --ds-plan-memory=alignment=-64 2>&1 | FileCheck %s --check-prefix=ALIGN

// ALIGN: error: ds-plan-memory: alignment must be positive, got -64

// Two 4 KiB temporaries in a chain followed by a third: the third reuses the first's
// bytes, so the arena holds 8192 bytes of the 12288 a layout without reuse would need.

// The peak: at launch 1, %a (written by launch 0) and %b (by launch 1) are both live.

// expected-remark @below {{memory plan of @train_step: 3 launches; persistent 4096 bytes; temporaries and outputs 8192 bytes for 3 buffers (lower bound 8192, without reuse 12288); arena 12288 bytes}}
// expected-remark @below {{memory peak of @train_step at launch 1 ('scale'): 8192 bytes live in 2 buffers; largest: 4096 bytes 'memref<1024xf32>' from launch 0 ('scale'); 4096 bytes 'memref<1024xf32>' from launch 1 ('scale')}}
func.func @train_step(%x: tensor<1024xf32> {ds.input = "x"}) -> (tensor<1024xf32> {ds.output = "y"}) {
  %a = ds.scale %x {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %b = ds.scale %a {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %c = ds.scale %b {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  return %c : tensor<1024xf32>
}
