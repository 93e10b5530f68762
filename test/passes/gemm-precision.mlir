// RUN: ds-opt %s --ds-gemm-precision --split-input-file | FileCheck %s
// RUN: ds-opt %s --ds-gemm-precision=math=tf32 --split-input-file | FileCheck %s --check-prefix=TF32
// RUN: not ds-opt %s --ds-gemm-precision=math=fp16 --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// Every matrix product is marked; the ops around them (norm, rope) are not.
// CHECK-LABEL: func.func @attention_block
// CHECK: ds.rms_norm {{.*}} {eps = {{[^}]*}}} :
// CHECK: ds.linear {{.*}} {ds.math = "bf16"}
// CHECK: ds.rope {{.*}} {theta = 1.000000e+04 : f64}
// CHECK: ds.attention {{.*}} {ds.math = "bf16", scale = 5.000000e-01 : f64}
// CHECK: ds.attention_grad {{.*}}ds.math = "bf16"
// CHECK: ds.linear_dgrad {{.*}} {ds.math = "bf16"}
// CHECK: ds.linear_wgrad {{.*}} {ds.math = "bf16"}
// TF32-LABEL: func.func @attention_block
// TF32: ds.linear {{.*}} {ds.math = "tf32"}
// BAD: ds-gemm-precision: unknown math 'fp16'; expected bf16 or tf32
func.func @attention_block(%x: tensor<2x4x16xf32>, %norm: tensor<16xf32>, %w: tensor<48x16xf32>,
                           %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>,
                           %dy: tensor<2x4x2x4xf32>, %dq: tensor<2x4x48xf32>)
    -> (tensor<2x4x2x6xf32>, tensor<2x4x16xf32>, tensor<48x16xf32>) {
  %n = ds.rms_norm %x, %norm {eps = 1.0e-06 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
  %q = ds.linear %n, %w : (tensor<2x4x16xf32>, tensor<48x16xf32>) -> tensor<2x4x48xf32>
  %q4 = ds.reshape %q : (tensor<2x4x48xf32>) -> tensor<2x4x8x6xf32>
  %qh = ds.slice %q4 {dim = 2 : i64, offset = 0 : i64, size = 2 : i64} : (tensor<2x4x8x6xf32>) -> tensor<2x4x2x6xf32>
  %qr = ds.rope %qh {theta = 10000.0 : f64} : (tensor<2x4x2x6xf32>) -> tensor<2x4x2x6xf32>
  %o = ds.attention %qr, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  %gq, %gk, %gv = ds.attention_grad %qr, %k, %v, %o, %dy {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>, tensor<2x4x2x4xf32>) -> (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>)
  %dx = ds.linear_dgrad %dq, %w : (tensor<2x4x48xf32>, tensor<48x16xf32>) -> tensor<2x4x16xf32>
  %dw = ds.linear_wgrad %dq, %n : (tensor<2x4x48xf32>, tensor<2x4x16xf32>) -> tensor<48x16xf32>
  return %gq, %dx, %dw : tensor<2x4x2x6xf32>, tensor<2x4x16xf32>, tensor<48x16xf32>
}

// -----

// A GEMM that ds-fp8-cast quantized keeps its FP8 emulation and gets no BF16 mark.
// CHECK-LABEL: func.func @fp8_gemm_untouched
// CHECK: ds.linear {{.*}} {ds.fp8_promote_interval = 128 : i64} :
// CHECK-NOT: ds.math
// CHECK: ds.grouped_linear {{.*}} {ds.math = "bf16"}
func.func @fp8_gemm_untouched(%x: tensor<16x16xf32>, %w: tensor<8x16xf32>, %we: tensor<4x8x16xf32>,
                              %c: tensor<4xi32>) -> (tensor<16x8xf32>, tensor<16x8xf32>) {
  %y = ds.linear %x, %w {ds.fp8_promote_interval = 128 : i64} : (tensor<16x16xf32>, tensor<8x16xf32>) -> tensor<16x8xf32>
  %g = ds.grouped_linear %x, %we, %c : (tensor<16x16xf32>, tensor<4x8x16xf32>, tensor<4xi32>) -> tensor<16x8xf32>
  return %y, %g : tensor<16x8xf32>, tensor<16x8xf32>
}
