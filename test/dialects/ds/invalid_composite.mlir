// Every verifier rule of the composite ops (ds.mla, ds.moe, ds.mtp_head) has a case here:
// each weight against the layer's attributes, as a wrong config key would produce.
// RUN: ds-opt %s -split-input-file -verify-diagnostics

// -----

func.func @mla_x_rank(%x: tensor<8x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{x must have rank 3 ([B, S, D]) but has rank 2}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @mla_num_heads(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'num_heads' must be positive but is 0}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 0 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_lora_rank(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'q_lora_rank' must be non-negative but is -1}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = -1 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_kv_lora_rank(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'kv_lora_rank' must be positive but is 0}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 0 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_qk_nope(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'qk_nope_head_dim' must be non-negative but is -4}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = -4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_qk_rope(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'qk_rope_head_dim' must be positive but is 0}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 0 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_v_head_dim(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'v_head_dim' must be positive but is 0}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 0 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_softmax_scale(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'softmax_scale' must be positive but is 0}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.0 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_rms_norm_eps(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'rms_norm_eps' must be positive but is -1e-06}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = -1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_rope_attrs(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'yarn_original_max_position' must be positive when yarn_factor is 40}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64, yarn_factor = 40.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_rope_odd(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<14x8xf32>, %kva: tensor<11x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'qk_rope_head_dim' is 3 but must be even}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 3 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<14x8xf32>, tensor<11x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_a_absent(%x: tensor<2x4x16xf32>, %qb: tensor<12x16xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_a_weight is absent but q_lora_rank is 8}}
  %y = ds.mla %x, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 0, 0, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<12x16xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_a_present(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_a_weight is present but q_lora_rank is 0}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_a_norm_absent(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_a_norm is absent but q_lora_rank is 8}}
  %y = ds.mla %x, %qa, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 0, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_a_rows(%x: tensor<2x4x16xf32>, %qa: tensor<6x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_a_weight dimension 0 (rows) is 6 but q_lora_rank is 8}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<6x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_a_in(%x: tensor<2x4x16xf32>, %qa: tensor<8x32xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_a_weight dimension 1 (in features) is 32 but x dimension 2 (hidden) is 16}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x32xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_a_norm_size(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<16xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_a_norm dimension 0 (size) is 16 but q_lora_rank is 8}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<16xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_b_rows(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<8x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_b_weight dimension 0 (rows) is 8 but num_heads * (qk_nope_head_dim + qk_rope_head_dim) is 12}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_b_in_compressed(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x16xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_b_weight dimension 1 (in features) is 16 but q_lora_rank is 8}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x16xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_b_in_direct(%x: tensor<2x4x16xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_b_weight dimension 1 (in features) is 8 but x dimension 2 (hidden) is 16}}
  %y = ds.mla %x, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 0, 0, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 0 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_q_b_rank(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<2x6x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{q_b_weight must have rank 2 ([H*(nope+rope), q_lora or D]) but has rank 3}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<2x6x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_kv_a_rows(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<8x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{kv_a_weight dimension 0 (rows) is 8 but kv_lora_rank + qk_rope_head_dim is 10}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_kv_a_in(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x8xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{kv_a_weight dimension 1 (in features) is 8 but x dimension 2 (hidden) is 16}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x8xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_kv_a_norm(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<10xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{kv_a_norm dimension 0 (size) is 10 but kv_lora_rank is 8}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<10xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_kv_b_rows(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<12x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{kv_b_weight dimension 0 (rows) is 12 but num_heads * (qk_nope_head_dim + v_head_dim) is 16}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_kv_b_in(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x10xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{kv_b_weight dimension 1 (in features) is 10 but kv_lora_rank is 8}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x10xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_o_rows(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<8x8xf32>) {
  // expected-error @+1 {{o_weight dimension 0 (rows) is 8 but x dimension 2 (hidden) is 16}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_o_in(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x16xf32>) {
  // expected-error @+1 {{o_weight dimension 1 (in features) is 16 but num_heads * v_head_dim is 8}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_weight_element(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xbf16>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{kv_b_weight element type is 'bf16' but x element type is 'f32'}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xbf16>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mla_result(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>, %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) {
  // expected-error @+1 {{result dimension 2 is 8 but expected 16 from the operands (shape 2x4x16)}}
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>, num_heads = 2 : i64, q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64, qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.4 : f64, rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @moe_x_rank(%x: tensor<8x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{x must have rank 3 ([B, S, D]) but has rank 2}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_gate_rank(%x: tensor<2x4x16xf32>, %g: tensor<128xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{gate_weight must have rank 2 ([E, D]) but has rank 1}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<128xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_gate_in(%x: tensor<2x4x16xf32>, %g: tensor<8x32xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{gate_weight dimension 1 (in features) is 32 but x dimension 2 (hidden) is 16}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x32xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_score_bias_size(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<4xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{score_bias dimension 0 (experts) is 4 but gate_weight dimension 0 (experts) is 8}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<4xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_score_bias_element(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xbf16>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{score_bias element type is 'bf16' but gate_weight element type is 'f32'}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xbf16>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_routing(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{the 8 experts do not split into n_group = 3 equal groups}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 3 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_score_func(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'score_func' must be one of}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmod", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_balance_alpha(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{attribute 'balance_alpha' must be non-negative but is -1}}
  %r0, %r1 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = -1.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>)
  return
}

// -----

func.func @moe_balance_missing(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{balance_alpha is 0.0001 but there is no balance_loss result}}
  %r0, %r1 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>)
  return
}

// -----

func.func @moe_balance_extra(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{has a balance_loss result but balance_alpha is 0}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_gate_up_rank(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x128xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_gate_up must have rank 3 ([E, 2I, D]) but has rank 2}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x128xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_gate_up_odd(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x7x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_gate_up dimension 1 (gate and up rows) is 7 but must be even}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x7x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_gate_up_experts(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<4x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_gate_up dimension 0 (experts) is 4 but gate_weight dimension 0 (experts) is 8}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<4x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_gate_up_in(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x32xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_gate_up dimension 2 (in features) is 32 but x dimension 2 (hidden) is 16}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x32xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_down_experts(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<4x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_down dimension 0 (experts) is 4 but gate_weight dimension 0 (experts) is 8}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<4x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_down_rows(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x8x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_down dimension 1 (rows) is 8 but x dimension 2 (hidden) is 16}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x8x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_down_intermediate(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x8xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_down dimension 2 (intermediate) is 8 but half of experts_gate_up dimension 1 is 4}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x8xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_expert_element(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xbf16>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{experts_down element type is 'bf16' but x element type is 'f32'}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xbf16>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_shared_down_absent(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>) {
  // expected-error @+1 {{shared_gate_up is present but shared_down is absent}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 0>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_shared_gate_up_absent(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{shared_down is present but shared_gate_up is absent}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_shared_rank(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<2x8x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{shared_gate_up must have rank 2 ([2*Is, D]) but has rank 3}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<2x8x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_shared_multiple(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<12x16xf32>, %sd: tensor<16x6xf32>) {
  // expected-error @+1 {{shared_gate_up dimension 0 (gate and up rows) is 12, which is not a multiple of 2I = 8 (experts_gate_up dimension 1)}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<12x16xf32>, tensor<16x6xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_shared_in(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x8xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{shared_gate_up dimension 1 (in features) is 8 but x dimension 2 (hidden) is 16}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_shared_down_rows(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<8x8xf32>) {
  // expected-error @+1 {{shared_down dimension 0 (rows) is 8 but x dimension 2 (hidden) is 16}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<8x8xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_shared_down_intermediate(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x4xf32>) {
  // expected-error @+1 {{shared_down dimension 1 (intermediate) is 4 but half of shared_gate_up dimension 0 is 8}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x4xf32>) -> (tensor<2x4x16xf32>, tensor<8xi32>, tensor<f32>)
  return
}

// -----

func.func @moe_result_counts(%x: tensor<2x4x16xf32>, %g: tensor<8x16xf32>, %b: tensor<8xf32>, %gu: tensor<8x8x16xf32>, %d: tensor<8x16x4xf32>, %sgu: tensor<16x16xf32>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{result expert_counts dimension 0 is 4 but expected 8 from the operands (shape 8)}}
  %r0, %r1, %r2 = ds.moe %x, %g, %b, %gu, %d, %sgu, %sd {operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>, top_k = 2 : i64, n_group = 4 : i64, topk_group = 2 : i64, score_func = "sigmoid", group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64, balance_alpha = 1.0e-04 : f64} : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>, tensor<8x16x4xf32>, tensor<16x16xf32>, tensor<16x8xf32>) -> (tensor<2x4x16xf32>, tensor<4xi32>, tensor<f32>)
  return
}

// -----

func.func @mtp_hidden_rank(%h: tensor<8x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{hidden must have rank 3 ([B, S, D]) but has rank 2}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<8x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @mtp_next_shape(%h: tensor<2x4x16xf32>, %e: tensor<2x3x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{next_embedding dimension 1 is 3 but expected 4 from the shape of hidden (shape 2x4x16)}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x3x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_next_element(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xbf16>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{next_embedding element type is 'bf16' but hidden element type is 'f32'}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xbf16>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_hidden_norm(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<8xf32>, %en: tensor<16xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{hidden_norm dimension 0 (size) is 8 but hidden dimension 2 (hidden) is 16}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<8xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_embed_norm(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<32xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{embed_norm dimension 0 (size) is 32 but hidden dimension 2 (hidden) is 16}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<32xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_proj_rows(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<32x32xf32>) {
  // expected-error @+1 {{proj dimension 0 (rows) is 32 but hidden dimension 2 (hidden) is 16}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<32x32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_proj_in(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<16x16xf32>) {
  // expected-error @+1 {{proj dimension 1 (in features) is 16 but twice hidden dimension 2 (hidden) is 32}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_depth(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{attribute 'depth' must be positive but is 0}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 0 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_eps(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{attribute 'rms_norm_eps' must be positive but is 0}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 0.0 : f64, loss_weight = 0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @mtp_loss_weight(%h: tensor<2x4x16xf32>, %e: tensor<2x4x16xf32>, %hn: tensor<16xf32>, %en: tensor<16xf32>, %p: tensor<16x32xf32>) {
  // expected-error @+1 {{attribute 'loss_weight' must be non-negative but is -0.3}}
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64, loss_weight = -0.3 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) -> tensor<2x4x16xf32>
  return
}
