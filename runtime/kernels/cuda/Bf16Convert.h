//===- Bf16Convert.h - F32 to BF16 copies for the tensor cores ------------===//
//
// cuBLASLt's CUBLAS_COMPUTE_32F_FAST_16BF with F32 operands is free to run TF32 kernels
// (it does on Hopper), at half the BF16 tensor-core rate. LtGemm therefore gives BF16
// products real BF16 operands: each F32 operand is rounded (nearest even, as the CPU
// emulation in cpu/Gemm.h rounds) into a BF16 copy first. The copy costs 6 bytes per
// element against the GEMM's 2·K FLOPs per element of output, negligible at V3's K.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_BF16CONVERT_H
#define DS_RUNTIME_KERNELS_CUDA_BF16CONVERT_H

#include "runtime/core/Status.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace ds::rt::cuda {

/// dst[i] = bf16(src[i]) for i < count, on `stream`.
Status convertToBf16(const char *kernel, const float *src, uint16_t *dst, int64_t count,
                     cudaStream_t stream);

} // namespace ds::rt::cuda

#endif
