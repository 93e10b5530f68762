// A malformed file fails with a diagnostic at the offending line and column, and a
// non-zero exit status (`not` fails the test if ds-opt exits 0).
// RUN: not ds-opt %s 2>&1 | FileCheck %s

// CHECK: syntax_error.mlir:[[# @LINE + 2]]:{{[0-9]+}}: error: expected ':'
func.func @missing_types(%x: tensor<2x4xf32>, %w: tensor<8x4xf32>) -> tensor<2x8xf32> {
  %y = ds.linear %x, %w
  return %y : tensor<2x8xf32>
}
