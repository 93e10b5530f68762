// Option values ds-fp8-cast refuses, each with a message naming the option and the
// accepted values.
// RUN: not ds-opt %s --ds-fp8-cast=granularity=per-block 2>&1 | FileCheck %s --check-prefix=GRANULARITY
// RUN: not ds-opt %s --ds-fp8-cast="keep-high-precision=wgrad,attention" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=KEEP
// RUN: not ds-opt %s --ds-fp8-cast=promote-interval=-4 2>&1 | FileCheck %s --check-prefix=INTERVAL

// GRANULARITY: error: ds-fp8-cast: granularity 'per-block' is not one of block, per-row, per-tensor
// KEEP: error: ds-fp8-cast: keep-high-precision entry 'attention' is not one of fprop, dgrad, wgrad, linear, linear_dgrad, linear_wgrad, grouped_linear, grouped_linear_dgrad, grouped_linear_wgrad
// INTERVAL: error: ds-fp8-cast: promote-interval must be >= 0 (0: plain FP32 accumulation) but is -4
func.func @step(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) -> tensor<4x8xf32> {
  %y = ds.linear %x, %w : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
