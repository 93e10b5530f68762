//===- CrossEntropy.cu - ds.cross_entropy and ds.cross_entropy_grad -------===//
//
// Mean token cross-entropy over labels != ignore_index (0 when none counts), as the CPU
// reference (cpu/CrossEntropy.cpp). One block per row makes one pass over the vocabulary
// with an online softmax (Milakov & Gimelshein 2018): each thread keeps a running max and
// a sum of exponentials rescaled whenever the max grows, and the block merges the pairs.
// The row's loss is log(sum) + max - logit[label]. The gradient pass re-reads the row once
// more to write (softmax - onehot) * dloss / count: at V = 129K the logits row is the
// traffic floor (one read forward; one read and one write backward).
//
// The mean is deterministic: per-row losses go to scratch and one block adds them in
// double with a fixed tree. Labels are checked on the host by the CPU kernel; here an
// out-of-range label (not ignore_index) makes its row's loss NaN (and its gradient row
// NaN), visible in the reported loss, since an error Status would need a host sync.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <vector>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 256;

/// The sum is kept in double (each exponential is FP32): for a confident prediction the
/// loss is log(1 + tiny), and an FP32 sum would cap its absolute accuracy at ~6e-8.
struct MaxSum {
  float max;
  double sum; // sum of exp(x - max)
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  float m = fmaxf(a.max, b.max);
  if (m == -INFINITY)
    return {m, 0.0};
  return {m, a.sum * expf(a.max - m) + b.sum * expf(b.max - m)};
}

/// Online max and sum of exponentials of one row; every thread gets the block's result.
__device__ MaxSum rowMaxSum(FloatIn logits, int64_t base, int64_t vocab) {
  MaxSum acc{-INFINITY, 0.0};
  auto add = [&acc](float x) {
    if (x > acc.max) {
      acc.sum = acc.sum * expf(acc.max - x) + 1.0;
      acc.max = x;
    } else {
      acc.sum += expf(x - acc.max);
    }
  };
  // kLoadsInFlight loads are issued before their updates (same order of updates as one at a
  // time): a row is long (the vocabulary) and the loop would otherwise wait on every load.
  constexpr int kLoadsInFlight = 4;
  int64_t j = threadIdx.x, stride = blockDim.x;
  for (; j + (kLoadsInFlight - 1) * stride < vocab; j += kLoadsInFlight * stride) {
    float x[kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u)
      x[u] = logits[base + j + u * stride];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u)
      add(x[u]);
  }
  for (; j < vocab; j += stride)
    add(logits[base + j]);
  for (int offset = 16; offset > 0; offset >>= 1) {
    MaxSum other{__shfl_xor_sync(kFullMask, acc.max, offset),
                 __shfl_xor_sync(kFullMask, acc.sum, offset)};
    acc = merge(acc, other);
  }
  __shared__ MaxSum partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0)
    partial[warp] = acc;
  __syncthreads();
  MaxSum total{-INFINITY, 0.0};
  for (int w = 0; w < int(blockDim.x >> 5); ++w)
    total = merge(total, partial[w]);
  return total;
}

__device__ __forceinline__ bool labelValid(int32_t label, int64_t vocab) {
  return label >= 0 && label < vocab;
}

__global__ void rowLossKernel(FloatIn logits, const int32_t *labels, int64_t vocab,
                              int32_t ignoreIndex, double *rowLoss, int *rowCounted) {
  int64_t row = blockIdx.x;
  int32_t label = labels[row];
  if (label == ignoreIndex) {
    if (threadIdx.x == 0) {
      rowLoss[row] = 0.0;
      rowCounted[row] = 0;
    }
    return;
  }
  MaxSum ms = rowMaxSum(logits, row * vocab, vocab);
  if (threadIdx.x == 0) {
    rowLoss[row] = labelValid(label, vocab)
                       ? log(ms.sum) + ms.max - logits[row * vocab + label]
                       : double(NAN);
    rowCounted[row] = 1;
  }
}

__global__ void meanLossKernel(const double *rowLoss, const int *rowCounted, int64_t rows,
                               FloatOut result) {
  double sum = 0.0, counted = 0.0;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
    sum += rowLoss[i];
    counted += rowCounted[i];
  }
  sum = blockSum(sum);
  counted = blockSum(counted);
  if (threadIdx.x == 0)
    result.store(0, counted == 0.0 ? 0.0f : float(sum / counted));
}

__global__ void countLabelsKernel(const int32_t *labels, int64_t rows, int32_t ignoreIndex,
                                  double *counted) {
  double count = 0.0;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x)
    count += labels[i] != ignoreIndex ? 1.0 : 0.0;
  count = blockSum(count);
  if (threadIdx.x == 0)
    *counted = count;
}

__global__ void gradKernel(FloatIn logits, const int32_t *labels, int64_t vocab,
                           int32_t ignoreIndex, FloatIn resultGrad, const double *counted,
                           FloatOut logitsGrad) {
  int64_t row = blockIdx.x, base = row * vocab;
  int32_t label = labels[row];
  if (label == ignoreIndex) {
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x)
      logitsGrad.store(base + j, 0.0f);
    return;
  }
  MaxSum ms = rowMaxSum(logits, base, vocab);
  float perRow = *counted == 0.0 ? 0.0f : float(resultGrad[0] / *counted);
  float inverseSum = float(1.0 / ms.sum);
  bool valid = labelValid(label, vocab);
#pragma unroll 4
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    float p = expf(logits[base + j] - ms.max) * inverseSum;
    float grad = (p - (j == label ? 1.0f : 0.0f)) * perRow;
    logitsGrad.store(base + j, valid ? grad : NAN);
  }
}

Status checkLabels(const char *k, const KernelCall &call, int64_t &rows, int64_t &vocab) {
  const TensorView &logits = call.inputs[0], &labels = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMinRank(k, "logits", logits, 1));
  vocab = logits.dim(-1);
  rows = labels.numElements();
  std::vector<int64_t> leading(logits.shape.begin(), logits.shape.end() - 1);
  return expectShape(k, "labels", labels, leading);
}

} // namespace

Status crossEntropy(KernelCall &call) {
  const char *k = "cross_entropy";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"logits", Elem::Float}, {"labels", Elem::Index}},
                               {{"result", Elem::Float}}));
  int64_t rows, vocab;
  DS_RETURN_IF_ERROR(checkLabels(k, call, rows, vocab));
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], 1));
  int32_t ignoreIndex = int32_t(call.attrs.getInt("ignore_index", -100));
  cudaStream_t stream = streamOf(call);
  ScratchCarver carve;
  size_t lossAt = carve.reserve(rows * sizeof(double));
  size_t countedAt = carve.reserve(rows * sizeof(int));
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, carve.total(), scratch));
  auto *rowLoss = reinterpret_cast<double *>(static_cast<char *>(scratch) + lossAt);
  auto *rowCounted = reinterpret_cast<int *>(static_cast<char *>(scratch) + countedAt);
  if (rows > 0) {
    rowLossKernel<<<unsigned(rows), kThreads, 0, stream>>>(
        floatIn(call.inputs[0]), call.inputs[1].as<const int32_t>(), vocab, ignoreIndex,
        rowLoss, rowCounted);
    DS_RETURN_IF_ERROR(launchCheck(k, "rowLossKernel"));
  }
  meanLossKernel<<<1, 1024, 0, stream>>>(rowLoss, rowCounted, rows, floatOut(call.outputs[0]));
  return launchCheck(k, "meanLossKernel");
}

Status crossEntropyGrad(KernelCall &call) {
  const char *k = "cross_entropy_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k,
      {{"logits", Elem::Float}, {"labels", Elem::Index}, {"result_grad", Elem::Float}},
      {{"logits_grad", Elem::Float}}));
  int64_t rows, vocab;
  DS_RETURN_IF_ERROR(checkLabels(k, call, rows, vocab));
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[2], 1));
  DS_RETURN_IF_ERROR(expectShape(k, "logits_grad", call.outputs[0], call.inputs[0].shape));
  if (rows == 0 || vocab == 0)
    return Status::ok();
  int32_t ignoreIndex = int32_t(call.attrs.getInt("ignore_index", -100));
  cudaStream_t stream = streamOf(call);
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, sizeof(double), scratch));
  auto *counted = static_cast<double *>(scratch);
  const int32_t *labels = call.inputs[1].as<const int32_t>();
  countLabelsKernel<<<1, 1024, 0, stream>>>(labels, rows, ignoreIndex, counted);
  DS_RETURN_IF_ERROR(launchCheck(k, "countLabelsKernel"));
  gradKernel<<<unsigned(rows), kThreads, 0, stream>>>(floatIn(call.inputs[0]), labels, vocab,
                                                      ignoreIndex, floatIn(call.inputs[2]),
                                                      counted, floatOut(call.outputs[0]));
  return launchCheck(k, "gradKernel");
}

} // namespace ds::rt::cuda
