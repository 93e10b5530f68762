// RUN: ds-opt %s --split-input-file --ds-fuse -verify-diagnostics
// RUN: not ds-opt %s --split-input-file --ds-fuse=optimizer-group-bytes=-1 2>&1 | FileCheck %s --check-prefix=BYTES

// ds-fuse rewrites launches and buffers before memory is planned; a planned program's
// offsets would no longer describe it.

// expected-error @+1 {{'dsx.program' op is already memory-planned; ds-fuse runs before ds-plan-memory, whose offsets its rewrites would invalidate}}
dsx.program @planned attributes {arena_bytes = 128 : i64, persistent_bytes = 64 : i64} {
  %x = dsx.buffer input "x" at 0 : memref<4xf32>
  %y = dsx.buffer output "y" at 64 : memref<4xf32>
  dsx.launch "scale"(%x) -> (%y) attrs {factor = 2.0 : f64} : (memref<4xf32>) -> memref<4xf32>
}

// BYTES: error: ds-fuse: optimizer-group-bytes must not be negative, got -1
