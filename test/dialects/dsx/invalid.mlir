// RUN: ds-opt %s -split-input-file -verify-diagnostics

dsx.program @writes_input attributes {arena_bytes = 512 : i64, persistent_bytes = 192 : i64} {
  %0 = dsx.buffer input "x" at 0 : memref<4x8xf32>
  // expected-error @+1 {{output #0 writes the input buffer 'x'; persistent buffers change only through dsx.update}}
  dsx.launch "fill"() -> (%0) attrs {value = 1.0 : f64} : () -> memref<4x8xf32>
}
// -----
dsx.program @update_to_temporary attributes {arena_bytes = 512 : i64, persistent_bytes = 192 : i64} {
  %0 = dsx.buffer temporary "a" at 192 : memref<4x8xf32>
  %1 = dsx.buffer temporary "b" at 320 : memref<4x8xf32>
  // expected-error @+1 {{target must be a param, buffer or state buffer, not a temporary buffer}}
  dsx.update %0 to %1 : memref<4x8xf32>
}
// -----
dsx.program @param_without_init attributes {arena_bytes = 512 : i64, persistent_bytes = 192 : i64} {
  // expected-error @+1 {{param 'w' needs an init (normal, ones or zeros)}}
  %0 = dsx.buffer param "w" at 0 : memref<4x8xf32>
}
// -----
dsx.program @offset_outside attributes {arena_bytes = 512 : i64, persistent_bytes = 192 : i64} {
  // expected-error @+1 {{bytes [448, 576) lie outside its region [192, 512)}}
  %0 = dsx.buffer temporary "t" at 448 : memref<4x8xf32>
}
// -----
dsx.program @view_of_param {
  %0 = dsx.buffer param "w" {init = "normal"} : memref<4x8xf32>
  // expected-error @+1 {{views the param buffer 'w'; only temporary and output buffers can be viewed}}
  %1 = dsx.view %0 : memref<4x8xf32> to memref<32xf32>
}
// -----
dsx.program @view_of_view {
  %0 = dsx.buffer temporary : memref<4x8xf32>
  %1 = dsx.view %0 : memref<4x8xf32> to memref<32xf32>
  // expected-error @+1 {{source must be a dsx.buffer result; a view of a view names the buffer they both view}}
  %2 = dsx.view %1 : memref<32xf32> to memref<2x16xf32>
}
// -----
dsx.program @view_changes_type {
  %0 = dsx.buffer temporary : memref<4x8xf32>
  // expected-error @+1 {{element type 'bf16' differs from the source's 'f32'}}
  %1 = dsx.view %0 : memref<4x8xf32> to memref<32xbf16>
}
// -----
dsx.program @view_changes_size {
  %0 = dsx.buffer temporary : memref<4x8xf32>
  // expected-error @+1 {{has 16 elements but its source has 32}}
  %1 = dsx.view %0 : memref<4x8xf32> to memref<16xf32>
}
// -----
dsx.program @launch_writes_view {
  %0 = dsx.buffer temporary : memref<4x8xf32>
  %1 = dsx.view %0 : memref<4x8xf32> to memref<32xf32>
  // expected-error @+1 {{output #0 is a dsx.view; views are read-only, write their source}}
  dsx.launch "fill"() -> (%1) attrs {value = 1.0 : f64} : () -> memref<32xf32>
}
// -----
dsx.program @view_of_dynamic_shape {
  %0 = dsx.buffer temporary : memref<4x8xf32>
  // expected-error @+1 {{view type 'memref<?xf32>' must have a static shape and identity layout}}
  %1 = dsx.view %0 : memref<4x8xf32> to memref<?xf32>
}
