// The shipped v3-mini spec (12 layers, the first dense, 64 routed experts, 2 shared, one
// MTP module) imported, decomposed, differentiated and cast to FP8 with the V3 recipe.
// RUN: ds-opt %configs/v3-mini.json --ds-decompose --ds-autodiff=keep-forward=false \
// RUN:   --ds-fp8-cast > %t
//
// Dense linears: 13 MLA blocks (12 layers + MTP) x 5 projections, the dense MLP's 2,
// 12 MoE blocks (11 + MTP) x (router gate + 2 shared-expert GEMMs), the MTP eh_proj and
// 2 uses of lm_head: 106. All but the 12 gates and 2 heads (92) are FP8 in all three
// GEMMs; the grouped expert GEMMs (2 per MoE block: 24) all are.
// RUN: grep "= ds.linear " %t | FileCheck %s --check-prefix=FPROP
// RUN: grep "= ds.linear_dgrad " %t | FileCheck %s --check-prefix=DGRAD
// RUN: grep "= ds.linear_wgrad " %t | FileCheck %s --check-prefix=WGRAD
// RUN: grep "= ds.grouped_linear" %t | FileCheck %s --check-prefix=GROUPED
// FPROP-COUNT-92: {ds.fp8_promote_interval = 128 : i64}
// FPROP-NOT: fp8_promote_interval
// DGRAD-COUNT-92: {ds.fp8_promote_interval = 128 : i64}
// DGRAD-NOT: fp8_promote_interval
// WGRAD-COUNT-92: {ds.fp8_promote_interval = 128 : i64}
// WGRAD-NOT: fp8_promote_interval
// GROUPED-COUNT-72: {ds.fp8_promote_interval = 128 : i64}
// GROUPED-NOT: fp8_promote_interval
//
// The high-precision ones are exactly the router gates ([64, 1024] weights, logits
// [128 tokens, 64]) and the output head ([32768, 1024]).
// RUN: grep "= ds.linear" %t | grep -v fp8_promote_interval | FileCheck %s --check-prefix=KEPT
// KEPT-COUNT-11: tensor<64x1024xf32>) -> tensor<128x64xf32>
// KEPT-NEXT: tensor<32768x1024xf32>) -> tensor<1x128x32768xf32>
// KEPT-NEXT: tensor<64x1024xf32>) -> tensor<128x64xf32>
// KEPT-NEXT: tensor<32768x1024xf32>) -> tensor<1x128x32768xf32>
//
// Scales: 1x128 tiles for Fprop inputs and Dgrad output-gradients, 128x128 blocks for
// each of the 92 + 24 weights (shared by Fprop and Dgrad), 128x1 tiles for the Wgrads.
// RUN: grep -c "ds.quantize .*{block = array<i64: 128, 128>}" %t | FileCheck %s --check-prefix=WEIGHTS
// WEIGHTS: {{^116$}}
