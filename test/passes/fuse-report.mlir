// RUN: ds-opt %s --ds-fuse=report=true -verify-diagnostics

// The report counts launches and the bytes each reads and writes, before and after. A
// residual add and its norm become one launch; the reshape becomes a view, moving nothing.
//   before: add 3 x 8 floats (96 bytes), rms_norm 8 + 4 + 8 (80), reshape 8 + 8 (64),
//           scale 8 + 8 (64): 304 bytes in 4 launches
//   after:  add_rms_norm 8 + 8 + 4 + 8 + 8 (144), scale (64): 208 bytes in 2 launches

// expected-remark @+1 {{ds-fuse @step: launches per step 4 -> 2 (-50.0%); bytes moved per step 304 -> 208 (-31.6%); launches removed by kind: views 1, concat 0, rope_partial 0, mla_rope_key 0, norm 1, fp8_round_trip 0, optimizer 0}}
dsx.program @step {
  %x = dsx.buffer input "x" : memref<2x4xf32>
  %h = dsx.buffer input "h" : memref<2x4xf32>
  %w = dsx.buffer param "w" {init = "ones"} : memref<4xf32>
  %sum = dsx.buffer temporary : memref<2x4xf32>
  dsx.launch "add"(%x, %h) -> (%sum) attrs {} : (memref<2x4xf32>, memref<2x4xf32>) -> memref<2x4xf32>
  %normed = dsx.buffer temporary : memref<2x4xf32>
  dsx.launch "rms_norm"(%sum, %w) -> (%normed) attrs {eps = 1.0e-6 : f64} : (memref<2x4xf32>, memref<4xf32>) -> memref<2x4xf32>
  %flat = dsx.buffer temporary : memref<8xf32>
  dsx.launch "reshape"(%normed) -> (%flat) attrs {} : (memref<2x4xf32>) -> memref<8xf32>
  %y = dsx.buffer output "y" : memref<8xf32>
  dsx.launch "scale"(%flat) -> (%y) attrs {factor = 1.0 : f64} : (memref<8xf32>) -> memref<8xf32>
}
