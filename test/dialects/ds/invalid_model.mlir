// Every verifier rule of the dense model primitives has a case here.
// RUN: ds-opt %s -split-input-file -verify-diagnostics

// -----

func.func @embedding_table_rank(%i: tensor<2x4xi32>, %t: tensor<32xf32>) {
  // expected-error @+1 {{table must have rank 2 ([V, D]) but has rank 1}}
  %y = ds.embedding %i, %t : (tensor<2x4xi32>, tensor<32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @embedding_result_dim(%i: tensor<2x4xi32>, %t: tensor<32x16xf32>) {
  // expected-error @+1 {{result dimension 2 is 8 but expected 16 from the operands (shape 2x4x16)}}
  %y = ds.embedding %i, %t : (tensor<2x4xi32>, tensor<32x16xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @embedding_result_element(%i: tensor<2x4xi32>, %t: tensor<32x16xf32>) {
  // expected-error @+1 {{result element type is 'bf16' but the operands imply 'f32'}}
  %y = ds.embedding %i, %t : (tensor<2x4xi32>, tensor<32x16xf32>) -> tensor<2x4x16xbf16>
  return
}

// -----

func.func @dynamic_shape(%i: tensor<?x4xi32>, %t: tensor<32x16xf32>) {
  // expected-error @+1 {{ids must have a static shape but has type 'tensor<?x4xi32>'}}
  %y = ds.embedding %i, %t : (tensor<?x4xi32>, tensor<32x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @rms_norm_input_rank(%x: tensor<f32>, %w: tensor<16xf32>) {
  // expected-error @+1 {{input must have rank at least 1 ([..., D]) but has rank 0}}
  %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<f32>, tensor<16xf32>) -> tensor<f32>
  return
}

// -----

func.func @rms_norm_weight_rank(%x: tensor<2x16xf32>, %w: tensor<1x16xf32>) {
  // expected-error @+1 {{weight must have rank 1 ([D]) but has rank 2}}
  %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x16xf32>, tensor<1x16xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @rms_norm_weight_size(%x: tensor<2x16xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{weight dimension 0 (normalized size) is 8 but the last dimension of input is 16}}
  %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x16xf32>, tensor<8xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @rms_norm_weight_element(%x: tensor<2x16xf32>, %w: tensor<16xbf16>) {
  // expected-error @+1 {{weight element type is 'bf16' but input element type is 'f32'}}
  %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x16xf32>, tensor<16xbf16>) -> tensor<2x16xf32>
  return
}

// -----

func.func @rms_norm_eps(%x: tensor<2x16xf32>, %w: tensor<16xf32>) {
  // expected-error @+1 {{attribute 'eps' must be positive but is 0}}
  %y = ds.rms_norm %x, %w {eps = 0.0 : f64} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @rms_norm_result(%x: tensor<2x16xf32>, %w: tensor<16xf32>) {
  // expected-error @+1 {{result must have rank 2 (shape 2x16 from the operands) but has rank 1}}
  %y = ds.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @linear_input_rank(%x: tensor<f32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{input must have rank at least 1 ([..., K]) but has rank 0}}
  %y = ds.linear %x, %w : (tensor<f32>, tensor<8x16xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<2x16xf32>, %w: tensor<2x8x16xf32>) {
  // expected-error @+1 {{weight must have rank 2 ([N, K]) but has rank 3}}
  %y = ds.linear %x, %w : (tensor<2x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @linear_in_features(%x: tensor<2x4x32xf32>, %w: tensor<16x64xf32>) {
  // expected-error @+1 {{'ds.linear' op weight dimension 1 (in features) is 64 but the last dimension of input is 32}}
  %y = ds.linear %x, %w : (tensor<2x4x32xf32>, tensor<16x64xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @linear_element(%x: tensor<2x16xbf16>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{weight element type is 'f32' but input element type is 'bf16'}}
  %y = ds.linear %x, %w : (tensor<2x16xbf16>, tensor<8x16xf32>) -> tensor<2x8xbf16>
  return
}

// -----

func.func @linear_result(%x: tensor<2x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{result dimension 1 is 16 but expected 8 from the operands}}
  %y = ds.linear %x, %w : (tensor<2x16xf32>, tensor<8x16xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @rope_rank(%x: tensor<2x4x8xf32>) {
  // expected-error @+1 {{input must have rank 4 ([B, S, H, Dr]) but has rank 3}}
  %y = ds.rope %x {theta = 10000.0 : f64} : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @rope_odd(%x: tensor<2x4x2x7xf32>) {
  // expected-error @+1 {{input dimension 3 (rotary dim) is 7 but must be even}}
  %y = ds.rope %x {theta = 10000.0 : f64} : (tensor<2x4x2x7xf32>) -> tensor<2x4x2x7xf32>
  return
}

// -----

func.func @rope_theta(%x: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{attribute 'theta' must be positive}}
  %y = ds.rope %x {theta = 0.0 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @rope_attention_factor(%x: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{attribute 'yarn_attention_factor' must be positive}}
  %y = ds.rope %x {theta = 10000.0 : f64, yarn_attention_factor = 0.0 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @rope_original_max_negative(%x: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{attribute 'yarn_original_max_position' must be non-negative but is -1}}
  %y = ds.rope %x {theta = 10000.0 : f64, yarn_original_max_position = -1 : i64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @rope_yarn_factor(%x: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{attribute 'yarn_factor' must be at least 1 (1 disables YaRN)}}
  %y = ds.rope %x {theta = 10000.0 : f64, yarn_factor = 0.5 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @rope_yarn_original_max(%x: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{attribute 'yarn_original_max_position' must be positive when yarn_factor is 40}}
  %y = ds.rope %x {theta = 10000.0 : f64, yarn_factor = 40.0 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @rope_yarn_betas(%x: tensor<2x4x2x8xf32>) {
  // expected-error @+1 {{YaRN needs yarn_beta_fast > yarn_beta_slow > 0}}
  %y = ds.rope %x {theta = 10000.0 : f64, yarn_factor = 40.0 : f64, yarn_original_max_position = 4096 : i64, yarn_beta_fast = 1.0 : f64, yarn_beta_slow = 32.0 : f64} : (tensor<2x4x2x8xf32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @attention_query_rank(%q: tensor<2x4x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{query must have rank 4 ([B, S, H, Dqk]) but has rank 3}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_key_rank(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x6xf32>, %v: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{key must have rank 4 ([B, S, H, Dqk]) but has rank 3}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_value_rank(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x4xf32>) {
  // expected-error @+1 {{value must have rank 4 ([B, S, H, Dv]) but has rank 3}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_key_head_dim(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x8xf32>, %v: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{key dimension 3 (head dim) is 8 but query dimension 3 is 6}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_key_seq(%q: tensor<2x4x2x6xf32>, %k: tensor<2x5x2x6xf32>, %v: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{key dimension 1 (sequence) is 5 but query dimension 1 is 4}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x5x2x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_value_heads(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x3x4xf32>) {
  // expected-error @+1 {{value dimension 2 (heads) is 3 but query dimension 2 is 2}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x3x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_key_element(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xbf16>, %v: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{key element type is 'bf16' but query element type is 'f32'}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xbf16>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_value_element(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xbf16>) {
  // expected-error @+1 {{value element type is 'bf16' but query element type is 'f32'}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xbf16>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{attribute 'scale' must be positive}}
  %y = ds.attention %q, %k, %v {scale = -1.0 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x4xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<2x4x2x6xf32>, %k: tensor<2x4x2x6xf32>, %v: tensor<2x4x2x4xf32>) {
  // expected-error @+1 {{result dimension 3 is 6 but expected 4 from the operands}}
  %y = ds.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x2x6xf32>, tensor<2x4x2x6xf32>, tensor<2x4x2x4xf32>) -> tensor<2x4x2x6xf32>
  return
}

// -----

func.func @swiglu_rank(%x: tensor<f32>) {
  // expected-error @+1 {{gate_up must have rank at least 1 ([..., 2I]) but has rank 0}}
  %y = ds.swiglu %x : (tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @swiglu_odd(%x: tensor<2x7xf32>) {
  // expected-error @+1 {{gate_up dimension 1 (gate and up halves) is 7 but must be even}}
  %y = ds.swiglu %x : (tensor<2x7xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @swiglu_result(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{result dimension 1 is 8 but expected 4 from the operands}}
  %y = ds.swiglu %x : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @add_shape(%a: tensor<2x4xf32>, %b: tensor<2x5xf32>) {
  // expected-error @+1 {{rhs dimension 1 is 5 but expected 4 from the shape of lhs}}
  %y = ds.add %a, %b : (tensor<2x4xf32>, tensor<2x5xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @add_element(%a: tensor<2x4xf32>, %b: tensor<2x4xbf16>) {
  // expected-error @+1 {{rhs element type is 'bf16' but lhs element type is 'f32'}}
  %y = ds.add %a, %b : (tensor<2x4xf32>, tensor<2x4xbf16>) -> tensor<2x4xf32>
  return
}

// -----

func.func @add_result(%a: tensor<2x4xf32>, %b: tensor<2x4xf32>) {
  // expected-error @+1 {{result element type is 'bf16' but the operands imply 'f32'}}
  %y = ds.add %a, %b : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xbf16>
  return
}

// -----

func.func @mul_rank(%a: tensor<2x4xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{rhs must have rank 2 (shape 2x4 from the shape of lhs) but has rank 1}}
  %y = ds.mul %a, %b : (tensor<2x4xf32>, tensor<8xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @scale_factor(%a: tensor<2x4xf32>) {
  // expected-error @+1 {{attribute 'factor' must be finite but is inf}}
  %y = ds.scale %a {factor = 0x7FF0000000000000 : f64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @scale_result(%a: tensor<2x4xf32>) {
  // expected-error @+1 {{result dimension 0 is 4 but expected 2 from the operands}}
  %y = ds.scale %a {factor = 2.0 : f64} : (tensor<2x4xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @convert_input_fp8(%a: tensor<2x4xf8E4M3FN>) {
  // expected-error @+1 {{input element type must be f32 or bf16 but is 'f8E4M3FN'}}
  %y = ds.convert %a : (tensor<2x4xf8E4M3FN>) -> tensor<2x4xf32>
  return
}

// -----

func.func @convert_result_f16(%a: tensor<2x4xf32>) {
  // expected-error @+1 {{result element type must be f32 or bf16 but is 'f16'}}
  %y = ds.convert %a : (tensor<2x4xf32>) -> tensor<2x4xf16>
  return
}

// -----

func.func @convert_shape(%a: tensor<2x4xf32>) {
  // expected-error @+1 {{result must have rank 2 (shape 2x4 from the shape of input) but has rank 1}}
  %y = ds.convert %a : (tensor<2x4xf32>) -> tensor<8xbf16>
  return
}

// -----

func.func @cross_entropy_rank(%l: tensor<f32>, %t: tensor<i32>) {
  // expected-error @+1 {{logits must have rank at least 1 ([..., V]) but has rank 0}}
  %y = ds.cross_entropy %l, %t : (tensor<f32>, tensor<i32>) -> tensor<f32>
  return
}

// -----

func.func @cross_entropy_labels(%l: tensor<2x4x32xf32>, %t: tensor<2x5xi32>) {
  // expected-error @+1 {{labels dimension 1 is 5 but expected 4 from logits without its last (vocabulary) dimension}}
  %y = ds.cross_entropy %l, %t : (tensor<2x4x32xf32>, tensor<2x5xi32>) -> tensor<f32>
  return
}
