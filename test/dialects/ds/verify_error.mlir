// A verifier error names the file, line and column of the op and exits non-zero, so a
// build script stops at a malformed graph.
// RUN: not ds-opt %s 2>&1 | FileCheck %s

// CHECK: verify_error.mlir:[[# @LINE + 2]]:8: error: 'ds.linear' op weight dimension 1 (in features) is 64 but the last dimension of input is 32
func.func @wrong_weight(%x: tensor<2x4x32xf32>, %w: tensor<16x64xf32>) -> tensor<2x4x16xf32> {
  %y = ds.linear %x, %w : (tensor<2x4x32xf32>, tensor<16x64xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}
