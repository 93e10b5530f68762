//===- GroupedLinear.cpp - ds.grouped_linear and its backward GEMMs -------===//
//
// Expert e owns rows [sum(counts[:e]), sum(counts[:e+1])) of the input and multiplies them
// by weight[e]^T. Two paths:
//  * math = "bf16" (the training path): one launch of our grouped GEMM for all experts,
//    counts read on the device (GroupedGemm.h), when the widths are multiples of 8 and the
//    tensors 16-byte aligned.
//  * otherwise (exact FP32 or TF32 math, the CPU-matching and test paths, or odd widths):
//    one cuBLASLt GEMM per expert (LtGemm.h; the same column-major reading as Linear.cpp),
//    which needs the counts on the host: they are copied back and the stream synchronized
//    once per call, so this path cannot be captured into a CUDA graph and says so instead
//    of breaking a capture. CUDA 13.0's cuBLAS offers grouped GEMM
//    (cublasGemmGroupedBatchedEx) only with per-group sizes in host arrays, which would
//    not remove the sync.
//
// Empty experts launch nothing; their weight gradient is zeroed, as on the CPU. The
// attribute math rounds F32 operands to BF16 or TF32 on the tensor cores (Linear.cpp).
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/GroupedGemm.h"
#include "runtime/kernels/cuda/LtGemm.h"

#include <vector>

namespace ds::rt::cuda {
namespace {

/// Copies counts to the host and checks them as the CPU kernel does: each >= 0, together
/// exactly `rows`.
Status hostOffsets(const char *kernel, const TensorView &countsView, int64_t experts,
                   int64_t rows, cudaStream_t stream, std::vector<int64_t> &offsets) {
  DS_RETURN_IF_ERROR(expectShape(kernel, "counts", countsView, {experts}));
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  DS_RETURN_IF_ERROR(
      cudaCheck(cudaStreamIsCapturing(stream, &capture), kernel, "cudaStreamIsCapturing"));
  if (capture != cudaStreamCaptureStatusNone)
    return errorf(kernel, ": reads expert counts on the host, which a CUDA graph capture "
                          "cannot contain");
  std::vector<int32_t> counts(experts);
  if (experts > 0)
    DS_RETURN_IF_ERROR(cudaCheck(cudaMemcpyAsync(counts.data(), countsView.data,
                                                 experts * sizeof(int32_t),
                                                 cudaMemcpyDeviceToHost, stream),
                                 kernel, "cudaMemcpyAsync(counts)"));
  DS_RETURN_IF_ERROR(
      cudaCheck(cudaStreamSynchronize(stream), kernel, "cudaStreamSynchronize(counts)"));
  offsets.assign(experts + 1, 0);
  for (int64_t e = 0; e < experts; ++e) {
    if (counts[e] < 0)
      return errorf(kernel, ": counts[", e, "] = ", counts[e], " is negative");
    offsets[e + 1] = offsets[e] + counts[e];
  }
  if (offsets[experts] != rows)
    return errorf(kernel, ": counts sum to ", offsets[experts], " but there are ", rows,
                  " rows");
  return Status::ok();
}

Status checkWeight(const char *kernel, const char *name, const TensorView &weight) {
  if (weight.rank() != 3)
    return errorf(kernel, ": ", name, " has shape ", weight.shapeString(),
                  ", expected [E, Nout, K]");
  return Status::ok();
}

Status checkMatrix(const char *kernel, const char *name, const TensorView &t, int64_t cols) {
  if (t.rank() != 2 || t.dim(1) != cols)
    return errorf(kernel, ": ", name, " has shape ", t.shapeString(), ", expected [N, ", cols,
                  "]");
  return Status::ok();
}

const char *offsetBytes(const TensorView &t, int64_t elements) {
  return static_cast<const char *>(t.data) + elements * dtypeSize(t.dtype);
}

/// Fprop and Dgrad are one product: the rows of `in` that belong to expert e, times
/// weight[e] [Nout, K] (transposed for Fprop, whose input has K columns; as stored for
/// Dgrad, whose input has Nout columns), into the same rows of `out`.
Status expertRowsTimesWeight(KernelCall &call, const char *k, const char *inName,
                             const char *outName, bool transposeWeight) {
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{inName, Elem::Float}, {"weight", Elem::Float}, {"counts", Elem::Index}},
      {{outName, Elem::Float}}));
  const TensorView &in = call.inputs[0], &w = call.inputs[1], &out = call.outputs[0];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight", w));
  int64_t experts = w.dim(0), nOut = w.dim(1), kDim = w.dim(2);
  int64_t inCols = transposeWeight ? kDim : nOut, outCols = transposeWeight ? nOut : kDim;
  DS_RETURN_IF_ERROR(checkMatrix(k, inName, in, inCols));
  int64_t rows = in.dim(0);
  DS_RETURN_IF_ERROR(expectShape(k, outName, out, {rows, outCols}));
  cudaStream_t stream = streamOf(call);
  LtOptions options;
  DS_RETURN_IF_ERROR(readLtMath(k, call.attrs, options.math));
  if (options.math == LtMath::BF16 && inCols > 0 && groupedGemmFits(w, in, in, out)) {
    DS_RETURN_IF_ERROR(expectShape(k, "counts", call.inputs[2], {experts}));
    return groupedRowsTimesWeightBf16(k, stream, in, w, call.inputs[2], out, transposeWeight);
  }
  std::vector<int64_t> offsets;
  DS_RETURN_IF_ERROR(hostOffsets(k, call.inputs[2], experts, rows, stream, offsets));
  if (inCols == 0)
    return cudaCheck(cudaMemsetAsync(out.data, 0, out.sizeInBytes(), stream), k,
                     "cudaMemsetAsync");
  for (int64_t e = 0; e < experts; ++e) {
    int64_t m = offsets[e + 1] - offsets[e];
    if (m == 0)
      continue;
    DS_RETURN_IF_ERROR(ltMatmul(
        k, stream, outCols, m, inCols,
        {offsetBytes(w, e * nOut * kDim), w.dtype, kDim, transposeWeight},
        {offsetBytes(in, offsets[e] * inCols), in.dtype, inCols, false},
        const_cast<char *>(offsetBytes(out, offsets[e] * outCols)), out.dtype, outCols,
        options));
  }
  return Status::ok();
}

} // namespace

Status groupedLinear(KernelCall &call) {
  return expertRowsTimesWeight(call, "grouped_linear", "input", "result",
                               /*transposeWeight=*/true);
}

Status groupedLinearDgrad(KernelCall &call) {
  return expertRowsTimesWeight(call, "grouped_linear_dgrad", "result_grad", "input_grad",
                               /*transposeWeight=*/false);
}

Status groupedLinearWgrad(KernelCall &call) {
  const char *k = "grouped_linear_wgrad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"result_grad", Elem::Float}, {"input", Elem::Float}, {"counts", Elem::Index}},
      {{"weight_grad", Elem::Float}}));
  const TensorView &dy = call.inputs[0], &x = call.inputs[1], &dw = call.outputs[0];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight_grad", dw));
  int64_t experts = dw.dim(0), nOut = dw.dim(1), kDim = dw.dim(2);
  DS_RETURN_IF_ERROR(checkMatrix(k, "result_grad", dy, nOut));
  int64_t rows = dy.dim(0);
  DS_RETURN_IF_ERROR(expectShape(k, "input", x, {rows, kDim}));
  cudaStream_t stream = streamOf(call);
  LtOptions options;
  DS_RETURN_IF_ERROR(readLtMath(k, call.attrs, options.math));
  if (options.math == LtMath::BF16 && groupedGemmFits(dw, dy, x, dw)) {
    DS_RETURN_IF_ERROR(expectShape(k, "counts", call.inputs[2], {experts}));
    return groupedWeightGradBf16(k, stream, dy, x, call.inputs[2], dw);
  }
  std::vector<int64_t> offsets;
  DS_RETURN_IF_ERROR(hostOffsets(k, call.inputs[2], experts, rows, stream, offsets));
  int64_t sliceBytes = nOut * kDim * dtypeSize(dw.dtype);
  for (int64_t e = 0; e < experts; ++e) {
    int64_t m = offsets[e + 1] - offsets[e];
    char *slice = const_cast<char *>(offsetBytes(dw, e * nOut * kDim));
    if (m == 0) {
      DS_RETURN_IF_ERROR(cudaCheck(cudaMemsetAsync(slice, 0, sliceBytes, stream), k,
                                   "cudaMemsetAsync(empty expert)"));
      continue;
    }
    DS_RETURN_IF_ERROR(ltMatmul(k, stream, kDim, nOut, m,
                                {offsetBytes(x, offsets[e] * kDim), x.dtype, kDim, false},
                                {offsetBytes(dy, offsets[e] * nOut), dy.dtype, nOut, true},
                                slice, dw.dtype, kDim, options));
  }
  return Status::ok();
}

} // namespace ds::rt::cuda
