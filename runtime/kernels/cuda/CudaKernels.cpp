#include "runtime/kernels/cuda/CudaKernels.h"

namespace ds::rt {
namespace cuda {

const std::vector<KernelEntry> &cudaKernelTable() {
  // Names are the ds op names without "ds." (DsOps.td), plus the executor kernels "fill"
  // and "copy" (docs/kernels-needed.md).
  static const std::vector<KernelEntry> table = {
      {"embedding", embedding},
      {"rms_norm", rmsNorm},
      {"linear", linear},
      {"rope", rope},
      {"attention", attention},
      {"router", router},
      {"dispatch", dispatch},
      {"combine", combine},
      {"grouped_linear", groupedLinear},
      {"swiglu", swiglu},
      {"add", add},
      {"mul", mul},
      {"scale", scale},
      {"convert", convert},
      {"cross_entropy", crossEntropy},
      {"embedding_grad", embeddingGrad},
      {"rms_norm_grad", rmsNormGrad},
      {"linear_dgrad", linearDgrad},
      {"linear_wgrad", linearWgrad},
      {"rope_grad", ropeGrad},
      {"attention_grad", attentionGrad},
      {"dispatch_grad", dispatchGrad},
      {"combine_grad", combineGrad},
      {"grouped_linear_dgrad", groupedLinearDgrad},
      {"grouped_linear_wgrad", groupedLinearWgrad},
      {"swiglu_grad", swigluGrad},
      {"cross_entropy_grad", crossEntropyGrad},
      {"grad_norm", gradNorm},
      {"adamw", adamw},
      {"fill", fill},
      {"copy", copy},
      {"slice", slice},
      {"slice_grad", sliceGrad},
      {"concat", concat},
      {"reshape", reshape},
      {"expand", expand},
      {"expand_grad", expandGrad},
      {"balance_loss", balanceLoss},
      {"balance_loss_grad", balanceLossGrad},
      {"router_grad", routerGrad},
      {"bias_update", biasUpdate},
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

} // namespace cuda

void registerCudaKernels() {
  const std::vector<KernelEntry> &table = cuda::cudaKernelTable();
  // A second call finds every name taken and registers nothing, as Kernel.h promises.
  registerKernels(Backend::Cuda, table.data(), table.size());
}

} // namespace ds::rt
