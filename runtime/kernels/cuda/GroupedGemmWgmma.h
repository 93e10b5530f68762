//===- GroupedGemmWgmma.h - Hopper path of the grouped GEMM ---------------===//
//
// The three products of GroupedGemm.h with BF16 operands, on Hopper's asynchronous
// tensor-core instructions (wgmma) fed by the tensor copy engine (TMA). GroupedGemm.cu
// calls these first; where they do not take the tensors (`taken` false: an operand in
// F32, not a Hopper device, more than kWgmmaMaxExperts experts, no rows, or a shape the
// copy engine cannot describe) its mma.sync kernels run instead. Same results contract:
// BF16 products accumulated in FP32, counts read on the device, NaN on bad counts.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_GROUPEDGEMMWGMMA_H
#define DS_RUNTIME_KERNELS_CUDA_GROUPEDGEMMWGMMA_H

#include "runtime/core/Status.h"
#include "runtime/core/Tensor.h"

#include <cuda_runtime.h>

namespace ds::rt::cuda {

/// Each CTA keeps every expert's first row and first row tile in shared memory.
constexpr int64_t kWgmmaMaxExperts = 1024;

/// Forward (`transposeWeight`) or dgrad, as groupedRowsTimesWeightBf16.
Status wgmmaRowsTimesWeight(const char *kernel, cudaStream_t stream, const TensorView &in,
                            const TensorView &weight, const TensorView &counts,
                            const TensorView &out, bool transposeWeight, bool &taken);

/// wgrad, as groupedWeightGradBf16.
Status wgmmaWeightGrad(const char *kernel, cudaStream_t stream, const TensorView &dy,
                       const TensorView &x, const TensorView &counts, const TensorView &dw,
                       bool &taken);

} // namespace ds::rt::cuda

#endif
