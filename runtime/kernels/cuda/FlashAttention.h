//===- FlashAttention.h - fused BF16 attention on the tensor cores ---------===//
//
// The `math = "bf16"` path of ds.attention and ds.attention_grad (Attention.cu): a
// FlashAttention-2 forward and backward (Dao 2023) on Hopper's BF16 wgmma tensor cores
// (sm_90a) whose scores never leave the chip. Attention.cu checks the arguments and
// dispatches here when flashAttentionTakes() the call; its top comment states the rounding
// points.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_FLASHATTENTION_H
#define DS_RUNTIME_KERNELS_CUDA_FLASHATTENTION_H

#include "runtime/kernels/Kernel.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace ds::rt::cuda {

/// One call's problem: q, k [batch, seq, heads, qkDim], v and the result [.., vDim].
struct FlashShape {
  int64_t batch, seq, heads, qkDim, vDim;
  float scale;
  bool causal;
};

/// Whether the flash kernels are built for this shape (qkDim 64, 128 or 192, vDim 64 or
/// 128) and every tensor of `call` is 16-byte aligned (BF16 tiles load with cp.async, the
/// result and its gradient with 16-byte loads; plan offsets are multiples of 64 bytes).
bool flashAttentionTakes(const FlashShape &shape, const KernelCall &call);

/// result = softmax(scale * q k^T) v: call.inputs (query, key, value), call.outputs
/// (result), arguments already checked.
Status flashAttention(const char *kernel, const FlashShape &shape, const KernelCall &call,
                      cudaStream_t stream);

/// call.inputs (query, key, value, result, result_grad) -> call.outputs (query_grad,
/// key_grad, value_grad), arguments already checked.
Status flashAttentionGrad(const char *kernel, const FlashShape &shape, const KernelCall &call,
                          cudaStream_t stream);

} // namespace ds::rt::cuda

#endif
