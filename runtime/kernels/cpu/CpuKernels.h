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

// Fused kernels of ds-fuse (passes/fuse/Fusions.h), each the launches it replaces run as
// one. Operand layouts:
//   adamw_multi        in: lr, step, grad_norm, (param, grad, exp_avg, exp_avg_sq) per
//                      tensor; out: (new_param, new_exp_avg, new_exp_avg_sq) per tensor;
//                      attrs as adamw
//   bias_update_multi  in: (bias, counts) per tensor; out: new_bias per tensor; gamma
//   rope_partial       in: x [B, S, H, D]; out: x with channels [offset, offset + size)
//                      rotated as rope rotates a [B, S, H, size] tensor; rope's attrs,
//                      offset, size. rope_partial_grad: the same with rope_grad
//   mla_rope_key       in: kv_up [B, S, H, nope + Dv], kv_a [B, S, R + Dr]; out: k [B, S,
//                      H, nope + Dr] = kv_up[..., :nope] | rope(kv_a[..., R:R+Dr]) on every
//                      head; rope's attrs, nope_dim, rope_offset (= R)
//   mla_rope_key_grad  in: dk [B, S, H, nope + Dr], dv [B, S, H, Dv]; out: kv_up_grad =
//                      dk[..., :nope] | dv, pe_grad [B, S, 1, Dr] = rope_grad(sum over
//                      heads of dk[..., nope:]); rope's attrs, nope_dim
//   add_rms_norm       in: a, b, weight; out: sum = a + b, rms_norm(sum, weight); eps
//   rms_norm_grad_add  in: input, weight, result_grad, residual_grad; out: residual_grad
//                      + input_grad, weight_grad (of rms_norm_grad); eps
//   quantize_dequantize in: input; out: dequantize(quantize(input)) with FP32 scales;
//                      block
// Optimizer.cpp
Status adamwMulti(KernelCall &call);
Status biasUpdateMulti(KernelCall &call);
/// The multi-tensor launches as one adamw (inputs param, grad, exp_avg, exp_avg_sq, lr,
/// step, grad_norm) or bias_update call per tensor, with the launch's attributes and
/// stream; an error names the operand counts. Shared with the CUDA kernels.
Status splitAdamwMulti(const KernelCall &call, std::vector<KernelCall> &perTensor);
Status splitBiasUpdateMulti(const KernelCall &call, std::vector<KernelCall> &perTensor);
// Rope.cpp
Status ropePartial(KernelCall &call);
Status ropePartialGrad(KernelCall &call);
/// rope_partial(_grad)'s argument checks, shared with the CUDA kernels: input [B, S, H, D]
/// and result alike, and the rotated channels [offset, offset + size) inside D.
Status checkRopeWindow(const KernelCall &call, const char *kernel, int64_t &offset,
                       int64_t &size);
Status mlaRopeKey(KernelCall &call);
Status mlaRopeKeyGrad(KernelCall &call);
// RmsNorm.cpp
Status addRmsNorm(KernelCall &call);
Status rmsNormGradAdd(KernelCall &call);
// Quantize.cpp
Status quantizeDequantize(KernelCall &call);
/// quantize_dequantize's argument checks, shared with the CUDA kernel; yields `block`.
Status checkQuantizeDequantize(const KernelCall &call, std::vector<int64_t> &block);

// Runtime helpers emitted by ds-lower-to-exec (not ds ops).
Status fill(KernelCall &call);
Status copy(KernelCall &call);

} // namespace ds::rt::cpu

#endif
