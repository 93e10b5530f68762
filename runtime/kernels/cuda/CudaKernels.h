//===- CudaKernels.h - the CUDA kernels, one per ds op --------------------===//
//
// Each function implements the ds op of the same name (DsOps.td) under the calling
// convention of runtime/kernels/Kernel.h, with every tensor in device memory of the current
// device and call.stream a cudaStream_t (nullptr: the legacy default stream). Kernels
// launch asynchronously and return once their work is queued; launch and API errors come
// back as a Status naming the kernel and the CUDA call. The CPU kernel of the same name
// (cpu/CpuKernels.h) is the reference each is tested against (test/gpu).
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_CUDAKERNELS_H
#define DS_RUNTIME_KERNELS_CUDA_CUDAKERNELS_H

#include "runtime/kernels/Kernel.h"

#include <vector>

namespace ds::rt::cuda {

/// Every CUDA kernel, by kernel name; registerCudaKernels() (Kernel.h) registers it.
const std::vector<KernelEntry> &cudaKernelTable();

// Linear.cpp
Status linear(KernelCall &call);
Status linearDgrad(KernelCall &call);
Status linearWgrad(KernelCall &call);
// GroupedLinear.cpp
Status groupedLinear(KernelCall &call);
Status groupedLinearDgrad(KernelCall &call);
Status groupedLinearWgrad(KernelCall &call);
// RmsNorm.cu
Status rmsNorm(KernelCall &call);
Status rmsNormGrad(KernelCall &call);
// Elementwise.cu
Status swiglu(KernelCall &call);
Status swigluGrad(KernelCall &call);
Status add(KernelCall &call);
Status mul(KernelCall &call);
Status scale(KernelCall &call);
Status convert(KernelCall &call);
Status fill(KernelCall &call);
// Rope.cu
Status rope(KernelCall &call);
Status ropeGrad(KernelCall &call);
// Embedding.cu
Status embedding(KernelCall &call);
Status embeddingGrad(KernelCall &call);
// CrossEntropy.cu
Status crossEntropy(KernelCall &call);
Status crossEntropyGrad(KernelCall &call);
// Optimizer.cu
Status gradNorm(KernelCall &call);
Status adamw(KernelCall &call);
// Router.cu
Status router(KernelCall &call);
// Permute.cu
Status dispatch(KernelCall &call);
Status dispatchGrad(KernelCall &call);
Status combine(KernelCall &call);
Status combineGrad(KernelCall &call);
// Shape.cu
Status copy(KernelCall &call);
Status slice(KernelCall &call);
Status sliceGrad(KernelCall &call);
Status concat(KernelCall &call);
Status reshape(KernelCall &call);
Status expand(KernelCall &call);
Status expandGrad(KernelCall &call);
// BalanceLoss.cu
Status balanceLoss(KernelCall &call);
Status balanceLossGrad(KernelCall &call);
Status routerGrad(KernelCall &call);
Status biasUpdate(KernelCall &call);
// Attention.cu
Status attention(KernelCall &call);
Status attentionGrad(KernelCall &call);

// Fused kernels of ds-fuse (operand layouts in cpu/CpuKernels.h).
// Optimizer.cu
Status adamwMulti(KernelCall &call);
// BalanceLoss.cu
Status biasUpdateMulti(KernelCall &call);
// Rope.cu
Status ropePartial(KernelCall &call);
Status ropePartialGrad(KernelCall &call);
Status mlaRopeKey(KernelCall &call);
Status mlaRopeKeyGrad(KernelCall &call);
// RmsNorm.cu
Status addRmsNorm(KernelCall &call);
Status rmsNormGradAdd(KernelCall &call);
// Quantize.cu
Status quantizeDequantize(KernelCall &call);

} // namespace ds::rt::cuda

#endif
