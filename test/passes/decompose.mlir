// RUN: ds-opt %s --split-input-file --ds-decompose | FileCheck %s

// MLA with query compression (V2 report §2.1.2): B=2 S=4 D=16, 2 heads, q_lora 8,
// kv_lora 8, nope 4, rope 2, v 4.
// CHECK-LABEL: func @mla_q_compressed
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x16xf32>, %[[QA:.*]]: tensor<8x16xf32>, %[[QAN:.*]]: tensor<8xf32>, %[[QB:.*]]: tensor<12x8xf32>, %[[KVA:.*]]: tensor<10x16xf32>, %[[KVAN:.*]]: tensor<8xf32>, %[[KVB:.*]]: tensor<16x8xf32>, %[[O:.*]]: tensor<16x8xf32>)
// CHECK-NOT: ds.mla
// CHECK: %[[CQ:.*]] = ds.linear %[[X]], %[[QA]] : {{.*}} -> tensor<2x4x8xf32>
// CHECK: %[[CQN:.*]] = ds.rms_norm %[[CQ]], %[[QAN]] {eps = 9.9999999999999995E-7 : f64}
// CHECK: %[[Q:.*]] = ds.linear %[[CQN]], %[[QB]] : {{.*}} -> tensor<2x4x12xf32>
// CHECK: %[[Q4:.*]] = ds.reshape %[[Q]] : {{.*}} -> tensor<2x4x2x6xf32>
// CHECK: %[[QNOPE:.*]] = ds.slice %[[Q4]] {dim = 3 : i64, offset = 0 : i64, size = 4 : i64}
// CHECK: %[[QROPE:.*]] = ds.slice %[[Q4]] {dim = 3 : i64, offset = 4 : i64, size = 2 : i64}
// CHECK: %[[QROT:.*]] = ds.rope %[[QROPE]] {interleaved = true, theta = 1.000000e+04 : f64, yarn_factor = 4.000000e+01 : f64, yarn_original_max_position = 4096 : i64}
// CHECK: %[[QCAT:.*]] = ds.concat %[[QNOPE]], %[[QROT]] {dim = 3 : i64} : {{.*}} -> tensor<2x4x2x6xf32>
// CHECK: %[[KVAO:.*]] = ds.linear %[[X]], %[[KVA]] : {{.*}} -> tensor<2x4x10xf32>
// CHECK: %[[CKV:.*]] = ds.slice %[[KVAO]] {dim = 2 : i64, offset = 0 : i64, size = 8 : i64}
// CHECK: %[[CKVN:.*]] = ds.rms_norm %[[CKV]], %[[KVAN]] {eps = 9.9999999999999995E-7 : f64}
// CHECK: %[[KVBO:.*]] = ds.linear %[[CKVN]], %[[KVB]] : {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[KV4:.*]] = ds.reshape %[[KVBO]] : {{.*}} -> tensor<2x4x2x8xf32>
// CHECK: %[[KROPE:.*]] = ds.slice %[[KVAO]] {dim = 2 : i64, offset = 8 : i64, size = 2 : i64}
// CHECK: %[[KROPE4:.*]] = ds.reshape %[[KROPE]] : {{.*}} -> tensor<2x4x1x2xf32>
// CHECK: %[[KROT:.*]] = ds.rope %[[KROPE4]] {interleaved = true, theta = 1.000000e+04 : f64, yarn_factor = 4.000000e+01 : f64, yarn_original_max_position = 4096 : i64}
// CHECK: %[[KEXP:.*]] = ds.expand %[[KROT]] : (tensor<2x4x1x2xf32>) -> tensor<2x4x2x2xf32>
// CHECK: %[[KNOPE:.*]] = ds.slice %[[KV4]] {dim = 3 : i64, offset = 0 : i64, size = 4 : i64}
// CHECK: %[[K:.*]] = ds.concat %[[KNOPE]], %[[KEXP]] {dim = 3 : i64}
// CHECK: %[[V:.*]] = ds.slice %[[KV4]] {dim = 3 : i64, offset = 4 : i64, size = 4 : i64}
// CHECK: %[[ATT:.*]] = ds.attention %[[QCAT]], %[[K]], %[[V]] {scale = 0.40824829046386302 : f64} : {{.*}} -> tensor<2x4x2x4xf32>
// CHECK: %[[ATT3:.*]] = ds.reshape %[[ATT]] : {{.*}} -> tensor<2x4x8xf32>
// CHECK: %[[OUT:.*]] = ds.linear %[[ATT3]], %[[O]] : {{.*}} -> tensor<2x4x16xf32>
// CHECK: return %[[OUT]]
func.func @mla_q_compressed(%x: tensor<2x4x16xf32>, %qa: tensor<8x16xf32>, %qan: tensor<8xf32>,
    %qb: tensor<12x8xf32>, %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>,
    %kvb: tensor<16x8xf32>, %o: tensor<16x8xf32>) -> tensor<2x4x16xf32> {
  %y = ds.mla %x, %qa, %qan, %qb, %kva, %kvan, %kvb, %o {num_heads = 2 : i64,
      q_lora_rank = 8 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64,
      qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.408248290463863 : f64,
      rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64, interleaved = true,
      yarn_factor = 40.0 : f64, yarn_original_max_position = 4096 : i64,
      operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1>}
      : (tensor<2x4x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<12x8xf32>, tensor<10x16xf32>,
         tensor<8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// -----

// MLA without query compression (V2-Lite): q = W_q x.
// CHECK-LABEL: func @mla_no_q_compression
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x16xf32>, %[[WQ:.*]]: tensor<12x16xf32>,
// CHECK-NOT: ds.mla
// CHECK: %[[Q:.*]] = ds.linear %[[X]], %[[WQ]] : {{.*}} -> tensor<2x4x12xf32>
// CHECK-NEXT: ds.reshape %[[Q]] : {{.*}} -> tensor<2x4x2x6xf32>
// CHECK: ds.rope
// CHECK: ds.rms_norm
// CHECK: ds.rope
// CHECK: ds.attention
// CHECK: ds.linear
// CHECK-NOT: ds.rms_norm
// CHECK: return
func.func @mla_no_q_compression(%x: tensor<2x4x16xf32>, %wq: tensor<12x16xf32>,
    %kva: tensor<10x16xf32>, %kvan: tensor<8xf32>, %kvb: tensor<16x8xf32>,
    %o: tensor<16x8xf32>) -> tensor<2x4x16xf32> {
  %y = ds.mla %x, %wq, %kva, %kvan, %kvb, %o {num_heads = 2 : i64,
      q_lora_rank = 0 : i64, kv_lora_rank = 8 : i64, qk_nope_head_dim = 4 : i64,
      qk_rope_head_dim = 2 : i64, v_head_dim = 4 : i64, softmax_scale = 0.408248290463863 : f64,
      rms_norm_eps = 1.0e-06 : f64, theta = 10000.0 : f64,
      operandSegmentSizes = array<i32: 1, 0, 0, 1, 1, 1, 1, 1>}
      : (tensor<2x4x16xf32>, tensor<12x16xf32>, tensor<10x16xf32>, tensor<8xf32>,
         tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// -----

// DeepSeekMoE with shared experts: B=2 S=3 D=8, E=4 experts of I=6, top-2, Is=6.
// CHECK-LABEL: func @moe_shared
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xf32>, %[[GATE:.*]]: tensor<4x8xf32>, %[[BIAS:.*]]: tensor<4xf32>, %[[UP:.*]]: tensor<4x12x8xf32>, %[[DOWN:.*]]: tensor<4x8x6xf32>, %[[SUP:.*]]: tensor<12x8xf32>, %[[SDOWN:.*]]: tensor<8x6xf32>)
// CHECK-NOT: ds.moe
// CHECK: %[[T:.*]] = ds.reshape %[[X]] : {{.*}} -> tensor<6x8xf32>
// CHECK: %[[LOGITS:.*]] = ds.linear %[[T]], %[[GATE]] : {{.*}} -> tensor<6x4xf32>
// CHECK: %[[IDX:.*]], %[[W:.*]] = ds.router %[[LOGITS]], %[[BIAS]] {group_score = "top2_sum", n_group = 2 : i64, norm_topk_prob = true, routed_scale = 2.500000e+00 : f64, score_func = "sigmoid", top_k = 2 : i64, topk_group = 1 : i64} : {{.*}} -> (tensor<6x2xi32>, tensor<6x2xf32>)
// CHECK: %[[PERM:.*]], %[[COUNTS:.*]], %[[POS:.*]] = ds.dispatch %[[T]], %[[IDX]] {num_experts = 4 : i64} : {{.*}} -> (tensor<12x8xf32>, tensor<4xi32>, tensor<6x2xi32>)
// CHECK: %[[GU:.*]] = ds.grouped_linear %[[PERM]], %[[UP]], %[[COUNTS]] : {{.*}} -> tensor<12x12xf32>
// CHECK: %[[ACT:.*]] = ds.swiglu %[[GU]] : {{.*}} -> tensor<12x6xf32>
// CHECK: %[[DN:.*]] = ds.grouped_linear %[[ACT]], %[[DOWN]], %[[COUNTS]] : {{.*}} -> tensor<12x8xf32>
// CHECK: %[[ROUTED:.*]] = ds.combine %[[DN]], %[[POS]], %[[W]] : {{.*}} -> tensor<6x8xf32>
// CHECK: %[[SH:.*]] = ds.linear %[[T]], %[[SUP]] : {{.*}} -> tensor<6x12xf32>
// CHECK: %[[SHA:.*]] = ds.swiglu %[[SH]] : {{.*}} -> tensor<6x6xf32>
// CHECK: %[[SHO:.*]] = ds.linear %[[SHA]], %[[SDOWN]] : {{.*}} -> tensor<6x8xf32>
// CHECK: %[[SUM:.*]] = ds.add %[[ROUTED]], %[[SHO]]
// CHECK: %[[Y:.*]] = ds.reshape %[[SUM]] : {{.*}} -> tensor<2x3x8xf32>
// CHECK-NOT: ds.balance_loss
// CHECK: return %[[Y]], %[[COUNTS]]
func.func @moe_shared(%x: tensor<2x3x8xf32>, %gate: tensor<4x8xf32>, %bias: tensor<4xf32>,
    %up: tensor<4x12x8xf32>, %down: tensor<4x8x6xf32>, %sup: tensor<12x8xf32>,
    %sdown: tensor<8x6xf32>) -> (tensor<2x3x8xf32>, tensor<4xi32>) {
  %y, %counts = ds.moe %x, %gate, %bias, %up, %down, %sup, %sdown {top_k = 2 : i64,
      n_group = 2 : i64, topk_group = 1 : i64, score_func = "sigmoid",
      group_score = "top2_sum", norm_topk_prob = true, routed_scale = 2.5 : f64,
      operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>}
      : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x12x8xf32>,
         tensor<4x8x6xf32>, tensor<12x8xf32>, tensor<8x6xf32>) -> (tensor<2x3x8xf32>, tensor<4xi32>)
  return %y, %counts : tensor<2x3x8xf32>, tensor<4xi32>
}

// -----

// Without shared experts, with the sequence-wise balance loss over B=2 sequences.
// CHECK-LABEL: func @moe_balance_loss
// CHECK-NOT: ds.moe
// CHECK: %[[LOGITS:.*]] = ds.linear
// CHECK: %[[IDX:.*]], %[[W:.*]] = ds.router %[[LOGITS]]
// CHECK: %[[PERM:.*]], %[[COUNTS:.*]], %[[POS:.*]] = ds.dispatch
// CHECK: %[[ROUTED:.*]] = ds.combine
// CHECK-NOT: ds.add
// CHECK: %[[Y:.*]] = ds.reshape %[[ROUTED]]
// CHECK: %[[BL:.*]] = ds.balance_loss %[[LOGITS]], %[[IDX]] {alpha = 1.000000e-04 : f64, num_sequences = 2 : i64, score_func = "softmax"} : (tensor<6x4xf32>, tensor<6x2xi32>) -> tensor<f32>
// CHECK: return %[[Y]], %[[COUNTS]], %[[BL]]
func.func @moe_balance_loss(%x: tensor<2x3x8xf32>, %gate: tensor<4x8xf32>, %bias: tensor<4xf32>,
    %up: tensor<4x12x8xf32>, %down: tensor<4x8x6xf32>)
    -> (tensor<2x3x8xf32>, tensor<4xi32>, tensor<f32>) {
  %y, %counts, %loss = ds.moe %x, %gate, %bias, %up, %down {top_k = 2 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, score_func = "softmax",
      group_score = "max", norm_topk_prob = false, routed_scale = 1.0 : f64,
      balance_alpha = 1.0e-04 : f64,
      operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}
      : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x12x8xf32>,
         tensor<4x8x6xf32>) -> (tensor<2x3x8xf32>, tensor<4xi32>, tensor<f32>)
  return %y, %counts, %loss : tensor<2x3x8xf32>, tensor<4xi32>, tensor<f32>
}

// -----

// A bf16 layer: the gate input is converted so that the gate runs in FP32, and the FP32
// routing weights are converted to the activations' type for combine.
// CHECK-LABEL: func @moe_bf16_gate_in_fp32
// CHECK: %[[T:.*]] = ds.reshape %{{.*}} : (tensor<2x3x8xbf16>) -> tensor<6x8xbf16>
// CHECK: %[[T32:.*]] = ds.convert %[[T]] : (tensor<6x8xbf16>) -> tensor<6x8xf32>
// CHECK: ds.linear %[[T32]], %{{.*}} : (tensor<6x8xf32>, tensor<4x8xf32>) -> tensor<6x4xf32>
// CHECK: %[[IDX:.*]], %[[W:.*]] = ds.router
// CHECK: %[[PERM:.*]], %[[COUNTS:.*]], %[[POS:.*]] = ds.dispatch %[[T]]
// CHECK: %[[W16:.*]] = ds.convert %[[W]] : (tensor<6x2xf32>) -> tensor<6x2xbf16>
// CHECK: ds.combine %{{.*}}, %[[POS]], %[[W16]] : {{.*}} -> tensor<6x8xbf16>
func.func @moe_bf16_gate_in_fp32(%x: tensor<2x3x8xbf16>, %gate: tensor<4x8xf32>,
    %bias: tensor<4xf32>, %up: tensor<4x12x8xbf16>, %down: tensor<4x8x6xbf16>)
    -> (tensor<2x3x8xbf16>, tensor<4xi32>) {
  %y, %counts = ds.moe %x, %gate, %bias, %up, %down {top_k = 2 : i64,
      n_group = 1 : i64, topk_group = 1 : i64, score_func = "sigmoid",
      group_score = "top2_sum", norm_topk_prob = true, routed_scale = 1.0 : f64,
      operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}
      : (tensor<2x3x8xbf16>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x12x8xbf16>,
         tensor<4x8x6xbf16>) -> (tensor<2x3x8xbf16>, tensor<4xi32>)
  return %y, %counts : tensor<2x3x8xbf16>, tensor<4xi32>
}

// -----

// MTP input projection, V3 eq. 21: [RMSNorm(h); RMSNorm(e)] in that order.
// CHECK-LABEL: func @mtp_head
// CHECK-SAME: (%[[H:.*]]: tensor<2x4x8xf32>, %[[E:.*]]: tensor<2x4x8xf32>, %[[HN:.*]]: tensor<8xf32>, %[[EN:.*]]: tensor<8xf32>, %[[P:.*]]: tensor<8x16xf32>)
// CHECK-NOT: ds.mtp_head
// CHECK: %[[HNORM:.*]] = ds.rms_norm %[[H]], %[[HN]] {eps = 9.9999999999999995E-7 : f64}
// CHECK: %[[ENORM:.*]] = ds.rms_norm %[[E]], %[[EN]] {eps = 9.9999999999999995E-7 : f64}
// CHECK: %[[CAT:.*]] = ds.concat %[[HNORM]], %[[ENORM]] {dim = 2 : i64} : {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[OUT:.*]] = ds.linear %[[CAT]], %[[P]] : {{.*}} -> tensor<2x4x8xf32>
// CHECK: return %[[OUT]]
func.func @mtp_head(%h: tensor<2x4x8xf32>, %e: tensor<2x4x8xf32>, %hn: tensor<8xf32>,
    %en: tensor<8xf32>, %p: tensor<8x16xf32>) -> tensor<2x4x8xf32> {
  %y = ds.mtp_head %h, %e, %hn, %en, %p {depth = 1 : i64, rms_norm_eps = 1.0e-06 : f64,
      loss_weight = 0.3 : f64}
      : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8x16xf32>)
      -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}
