//===- GroupedGemm.h - one-launch grouped GEMM over expert row groups -----===//
//
// The three products of ds.grouped_linear with BF16 math (operands rounded to BF16,
// nearest even, FP32 accumulation: exactly the CPU emulation's rounding points), each as
// ONE kernel launch over every expert, reading the expert counts on the device:
//
//   forward  out[r, :] = in[r, :] · W[e]^T     (W [E, Nout, K])
//   dgrad    out[r, :] = dy[r, :] · W[e]
//   wgrad    dW[e]     = dy[rows of e]^T · x[rows of e]
//
// where the rows of expert e are the contiguous block [sum(counts[:e]), sum(counts[:e+1])).
// No host synchronisation and no per-expert launches: the step stays capturable into a
// CUDA graph, and 64 experts cost one launch instead of 64 cuBLASLt calls (each of which
// with a new row count also paid for a heuristic query).
//
// F32 or BF16 operands and results in any mix; F32 operands are rounded to BF16 while a
// tile is staged into shared memory, so no BF16 copies are made. With both operands in
// BF16 on a Hopper GPU the launch functions hand the work to GroupedGemmWgmma.h (wgmma
// and the tensor copy engine; same contract), and use their mma.sync kernels otherwise.
//
// Counts are checked on the device: a negative count, or counts that do not sum to the
// rows, makes the kernels write NaN everywhere they would have written (visible in the
// loss) instead of reading out of bounds. The host path (GroupedLinear.cpp) reports the
// same condition as an error, at the cost of a synchronisation.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_GROUPEDGEMM_H
#define DS_RUNTIME_KERNELS_CUDA_GROUPEDGEMM_H

#include "runtime/core/Status.h"
#include "runtime/core/Tensor.h"

#include <cuda_runtime.h>

namespace ds::rt::cuda {

/// Whether the device kernels take these tensors: the weight's two inner widths (Nout, K)
/// multiples of 8 and every tensor 16-byte aligned (tiles are read 8 elements at a time),
/// and a row count the launch grid can cover. Otherwise GroupedLinear.cpp's per-expert
/// cuBLASLt loop runs.
bool groupedGemmFits(const TensorView &weight, const TensorView &a, const TensorView &b,
                     const TensorView &out);

/// Forward (`transposeWeight`, in [rows, K] -> out [rows, Nout]) or dgrad (in [rows, Nout]
/// -> out [rows, K]) with BF16 math. Shapes were checked by the caller.
Status groupedRowsTimesWeightBf16(const char *kernel, cudaStream_t stream,
                                  const TensorView &in, const TensorView &weight,
                                  const TensorView &counts, const TensorView &out,
                                  bool transposeWeight);

/// wgrad with BF16 math: dw [E, Nout, K] from dy [rows, Nout] and x [rows, K]; an expert
/// without rows gets a zero gradient.
Status groupedWeightGradBf16(const char *kernel, cudaStream_t stream, const TensorView &dy,
                             const TensorView &x, const TensorView &counts,
                             const TensorView &dw);

} // namespace ds::rt::cuda

#endif
