//===- LtGemm.h - cuBLASLt matrix products for the CUDA kernels -----------===//
//
// One entry point for every GEMM of the CUDA backend: D = op(A) op(B) in cuBLASLt's
// column-major terms (a row-major [r, c] buffer is a column-major [c, r] one), FP32
// accumulation, alpha 1, beta 0 (or 1 to accumulate into D). A and B share one storage
// type (F32 or BF16); D is F32 or BF16. Optionally strided-batched: `batch` products whose
// A, B and D lie `stride` elements apart, e.g. every head of a [S, H, D] activation at
// stride D with leading dimension H·D.
//
// How F32 operands are multiplied is the caller's choice (LtMath): exact FP32
// (CUBLAS_COMPUTE_32F, the default: master-weight work, tests, the CPU-matching path), or
// on the tensor cores with each operand element rounded inside cuBLAS to TF32 or BF16 and
// FP32 accumulation. BF16 operands always use CUBLAS_COMPUTE_32F: they are BF16 already.
//
// Per device a cuBLASLt handle, per (device, stream) a 32 MiB workspace (cuBLAS requires a
// workspace not shared by concurrently running streams), and a cache of matmul
// descriptors and the heuristic's algorithm per problem (shape, strides, batch, dtypes,
// math, pointer alignment), so a training step pays for the heuristic once per GEMM shape.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_LTGEMM_H
#define DS_RUNTIME_KERNELS_CUDA_LTGEMM_H

#include "runtime/core/Status.h"
#include "runtime/core/Tensor.h"
#include "runtime/kernels/Kernel.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace ds::rt::cuda {

struct LtOperand {
  const void *data;
  DType dtype;
  int64_t ld;     // leading dimension in elements (column-major)
  bool transpose; // op(X) = X^T
};

/// How the tensor cores may treat F32 operands.
enum class LtMath : uint8_t {
  F32,  // CUBLAS_COMPUTE_32F: exact FP32 products
  TF32, // CUBLAS_COMPUTE_32F_FAST_TF32: operands rounded to TF32 (10 mantissa bits)
  BF16, // operands rounded to BF16 (nearest even) into copies, then a BF16 x BF16 GEMM
        // with FP32 accumulation: CUBLAS_COMPUTE_32F_FAST_16BF on the F32 operands would
        // let cuBLAS run TF32 kernels (it does on an H100), at half the BF16 rate
        // (Bf16Convert.h).
};

/// Reads a kernel's `math` attribute: "f32" (the default when absent), "tf32" or "bf16".
/// Any other value is an error naming the kernel and the value.
Status readLtMath(const char *kernel, const KernelAttrs &attrs, LtMath &math);

struct LtOptions {
  LtMath math = LtMath::F32;
  /// Strided-batched: `batch` products, the i-th reading A + i·strideA, B + i·strideB and
  /// writing D + i·strideD (strides in elements).
  int64_t batch = 1;
  int64_t strideA = 0, strideB = 0, strideD = 0;
  /// D += op(A) op(B) (beta 1) instead of D = op(A) op(B).
  bool accumulate = false;
};

/// D [m, n] (column-major, leading dimension ldd) = op(A) [m, k] * op(B) [k, n].
/// k == 0 is not a product cuBLASLt takes: callers zero D themselves.
Status ltMatmul(const char *kernel, cudaStream_t stream, int64_t m, int64_t n, int64_t k,
                const LtOperand &a, const LtOperand &b, void *d, DType dType, int64_t ldd,
                const LtOptions &options);

inline Status ltMatmul(const char *kernel, cudaStream_t stream, int64_t m, int64_t n,
                       int64_t k, const LtOperand &a, const LtOperand &b, void *d,
                       DType dType, int64_t ldd) {
  return ltMatmul(kernel, stream, m, n, k, a, b, d, dType, ldd, LtOptions{});
}

} // namespace ds::rt::cuda

#endif
