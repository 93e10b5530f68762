// RUN: ds-opt %s --ds-lower-to-exec --ds-plan-memory=report=true --verify-diagnostics -o /dev/null

// Two 4 KiB temporaries in a chain followed by a third: the third reuses the first's
// bytes, so the arena holds 8192 bytes of the 12288 a layout without reuse would need.

// expected-remark @below {{memory plan of @train_step: 3 launches; persistent 4096 bytes; temporaries and outputs 8192 bytes for 3 buffers (lower bound 8192, without reuse 12288); arena 12288 bytes}}
func.func @train_step(%x: tensor<1024xf32> {ds.input = "x"}) -> (tensor<1024xf32> {ds.output = "y"}) {
  %a = ds.scale %x {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %b = ds.scale %a {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  %c = ds.scale %b {factor = 2.0 : f64} : (tensor<1024xf32>) -> tensor<1024xf32>
  return %c : tensor<1024xf32>
}
