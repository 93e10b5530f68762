//===- CpuKernels.h - the CPU reference kernels, one per ds op ------------===//
//
// Each function implements the ds op of the same name (DsOps.td) under the calling
// convention of runtime/kernels/Kernel.h. cpuKernelTable() lists them all; the registry
// loads it on first use.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CPU_CPUKERNELS_H
#define DS_RUNTIME_KERNELS_CPU_CPUKERNELS_H

#include "runtime/kernels/Kernel.h"

#include <vector>

namespace ds::rt::cpu {

/// Every CPU kernel, by kernel name.
const std::vector<KernelEntry> &cpuKernelTable();

// Embedding.cpp
Status embedding(KernelCall &call);
Status embeddingGrad(KernelCall &call);
// RmsNorm.cpp
Status rmsNorm(KernelCall &call);
Status rmsNormGrad(KernelCall &call);
// Linear.cpp
Status linear(KernelCall &call);
Status linearDgrad(KernelCall &call);
Status linearWgrad(KernelCall &call);
// GroupedLinear.cpp
Status groupedLinear(KernelCall &call);
Status groupedLinearDgrad(KernelCall &call);
Status groupedLinearWgrad(KernelCall &call);
// Rope.cpp
Status rope(KernelCall &call);
Status ropeGrad(KernelCall &call);
// Attention.cpp
Status attention(KernelCall &call);
Status attentionGrad(KernelCall &call);
// Router.cpp
Status router(KernelCall &call);
Status routerGrad(KernelCall &call);
// BalanceLoss.cpp
Status balanceLoss(KernelCall &call);
Status balanceLossGrad(KernelCall &call);
// Permute.cpp
Status dispatch(KernelCall &call);
Status dispatchGrad(KernelCall &call);
Status combine(KernelCall &call);
Status combineGrad(KernelCall &call);
// Elementwise.cpp
Status swiglu(KernelCall &call);
Status swigluGrad(KernelCall &call);
Status add(KernelCall &call);
Status mul(KernelCall &call);
Status scale(KernelCall &call);
Status convert(KernelCall &call);
// CrossEntropy.cpp
Status crossEntropy(KernelCall &call);
Status crossEntropyGrad(KernelCall &call);
// Quantize.cpp
Status quantize(KernelCall &call);
Status dequantize(KernelCall &call);
// Shape.cpp
Status slice(KernelCall &call);
Status sliceGrad(KernelCall &call);
Status concat(KernelCall &call);
Status reshape(KernelCall &call);
Status expand(KernelCall &call);
Status expandGrad(KernelCall &call);
// Optimizer.cpp
Status gradNorm(KernelCall &call);
Status adamw(KernelCall &call);
Status biasUpdate(KernelCall &call);

// Runtime helpers emitted by ds-lower-to-exec (not ds ops).
Status fill(KernelCall &call);
Status copy(KernelCall &call);

} // namespace ds::rt::cpu

#endif
