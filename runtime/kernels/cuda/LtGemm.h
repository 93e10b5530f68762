//===- LtGemm.h - cuBLASLt matrix products for the linear kernels ---------===//
//
// One entry point for every GEMM of the CUDA backend: D = op(A) op(B) in cuBLASLt's
// column-major terms (a row-major [r, c] buffer is a column-major [c, r] one), FP32
// accumulation, alpha 1, beta 0. A and B share one storage type (F32 or BF16); D is F32 or
// BF16. F32 operands use CUBLAS_COMPUTE_32F, not TF32: the F32 path is the accuracy path
// (master-weight work, tests), BF16 the fast one.
//
// Per device a cuBLASLt handle, per (device, stream) a 32 MiB workspace (cuBLAS requires a
// workspace not shared by concurrently running streams), and a cache of matmul
// descriptors and the heuristic's algorithm per problem (shape, strides, dtypes, pointer
// alignment), so a training step pays for the heuristic once per GEMM shape.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_LTGEMM_H
#define DS_RUNTIME_KERNELS_CUDA_LTGEMM_H

#include "runtime/core/Status.h"
#include "runtime/core/Tensor.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace ds::rt::cuda {

struct LtOperand {
  const void *data;
  DType dtype;
  int64_t ld;     // leading dimension in elements (column-major)
  bool transpose; // op(X) = X^T
};

/// D [m, n] (column-major, leading dimension ldd) = op(A) [m, k] * op(B) [k, n].
/// k == 0 is not a product cuBLASLt takes: callers zero D themselves.
Status ltMatmul(const char *kernel, cudaStream_t stream, int64_t m, int64_t n, int64_t k,
                const LtOperand &a, const LtOperand &b, void *d, DType dType, int64_t ldd);

} // namespace ds::rt::cuda

#endif
