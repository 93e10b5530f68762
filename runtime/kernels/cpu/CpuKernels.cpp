#include "runtime/kernels/cpu/CpuKernels.h"

namespace ds::rt::cpu {

const std::vector<KernelEntry> &cpuKernelTable() {
  // Names are the ds op names without "ds." (DsOps.td); keep in ODS order.
  static const std::vector<KernelEntry> table = {
      {"embedding", embedding},
      {"rms_norm", rmsNorm},
      {"linear", linear},
      {"rope", rope},
      {"attention", attention},
      {"router", router},
      {"balance_loss", balanceLoss},
      {"dispatch", dispatch},
      {"combine", combine},
      {"grouped_linear", groupedLinear},
      {"swiglu", swiglu},
      {"add", add},
      {"mul", mul},
      {"scale", scale},
      {"convert", convert},
      {"cross_entropy", crossEntropy},
      {"quantize", quantize},
      {"dequantize", dequantize},
      {"slice", slice},
      {"concat", concat},
      {"reshape", reshape},
      {"expand", expand},
      {"embedding_grad", embeddingGrad},
      {"rms_norm_grad", rmsNormGrad},
      {"linear_dgrad", linearDgrad},
      {"linear_wgrad", linearWgrad},
      {"rope_grad", ropeGrad},
      {"attention_grad", attentionGrad},
      {"router_grad", routerGrad},
      {"balance_loss_grad", balanceLossGrad},
      {"dispatch_grad", dispatchGrad},
      {"combine_grad", combineGrad},
      {"grouped_linear_dgrad", groupedLinearDgrad},
      {"grouped_linear_wgrad", groupedLinearWgrad},
      {"swiglu_grad", swigluGrad},
      {"cross_entropy_grad", crossEntropyGrad},
      {"slice_grad", sliceGrad},
      {"expand_grad", expandGrad},
      {"grad_norm", gradNorm},
      {"adamw", adamw},
      {"bias_update", biasUpdate},
      {"fill", fill},
      {"copy", copy},
      // Fused kernels of ds-fuse.
      {"adamw_multi", adamwMulti},
      {"bias_update_multi", biasUpdateMulti},
      {"rope_partial", ropePartial},
      {"rope_partial_grad", ropePartialGrad},
      {"mla_rope_key", mlaRopeKey},
      {"mla_rope_key_grad", mlaRopeKeyGrad},
      {"add_rms_norm", addRmsNorm},
      {"rms_norm_grad_add", rmsNormGradAdd},
      {"quantize_dequantize", quantizeDequantize},
  };
  return table;
}

} // namespace ds::rt::cpu
