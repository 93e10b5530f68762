//===- RmsNorm.cu - ds.rms_norm and ds.rms_norm_grad ----------------------===//
//
// y = x * r * w, r = 1 / sqrt(mean(x^2) + eps); backward with xhat = x r, g = dy w:
//   dx = r * (g - xhat * mean(g * xhat)),   dw = sum over rows of dy * xhat.
// Memory-bound: the floor is one read of x (and dy) and one write of each result. One warp
// owns a row: its sums are warp shuffles, FP32 throughout, and the row's second pass hits
// L1/L2 rather than HBM for rows of a few thousand elements.
//
// dw sums over every row. Rather than float atomics (whose order varies run to run), each
// block of rows writes a partial column sum to scratch and one more launch adds the
// partials in order: the result is bit-reproducible.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <algorithm>

namespace ds::rt::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

__global__ void rmsNormKernel(FloatIn x, FloatIn w, FloatOut y, int64_t rows, int64_t width,
                              float eps) {
  int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x & 31;
  if (row >= rows)
    return;
  int64_t base = row * width;
  float sumSquares = 0.0f;
  for (int64_t j = lane; j < width; j += 32) {
    float v = x[base + j];
    sumSquares += v * v;
  }
  float r = rsqrtf(warpSum(sumSquares) / float(width) + eps);
  for (int64_t j = lane; j < width; j += 32)
    y.store(base + j, x[base + j] * r * w[j]);
}

/// dx for one row per warp; r of each row goes to `inverseRms` for the dw pass.
__global__ void rmsNormGradRowsKernel(FloatIn x, FloatIn w, FloatIn dy, FloatOut dx,
                                      float *inverseRms, int64_t rows, int64_t width,
                                      float eps) {
  int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x & 31;
  if (row >= rows)
    return;
  int64_t base = row * width;
  // mean(g * xhat) = r * mean(dy * w * x): both sums come from one pass.
  float sumSquares = 0.0f, dot = 0.0f;
  for (int64_t j = lane; j < width; j += 32) {
    float v = x[base + j];
    sumSquares += v * v;
    dot += dy[base + j] * w[j] * v;
  }
  float r = rsqrtf(warpSum(sumSquares) / float(width) + eps);
  float meanDot = r * warpSum(dot) / float(width);
  for (int64_t j = lane; j < width; j += 32) {
    float xhat = x[base + j] * r;
    dx.store(base + j, r * (dy[base + j] * w[j] - xhat * meanDot));
  }
  if (lane == 0)
    inverseRms[row] = r;
}

/// partial[chunk, j] = sum over the chunk's rows of dy * x * r, rows in ascending order.
__global__ void rmsNormGradPartialKernel(FloatIn x, FloatIn dy, const float *inverseRms,
                                         float *partial, int64_t rows, int64_t width,
                                         int64_t rowsPerChunk) {
  int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t chunk = blockIdx.y;
  if (j >= width)
    return;
  int64_t begin = chunk * rowsPerChunk;
  int64_t end = min(rows, begin + rowsPerChunk);
  float sum = 0.0f;
  for (int64_t row = begin; row < end; ++row)
    sum += dy[row * width + j] * x[row * width + j] * inverseRms[row];
  partial[chunk * width + j] = sum;
}

__global__ void sumChunksKernel(const float *partial, FloatOut dw, int64_t chunks,
                                int64_t width) {
  int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= width)
    return;
  float sum = 0.0f;
  for (int64_t c = 0; c < chunks; ++c)
    sum += partial[c * width + j];
  dw.store(j, sum);
}

Status checkShapes(const char *kernel, const KernelCall &call, int64_t &width, double &eps) {
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, kernel, "eps", eps));
  DS_RETURN_IF_ERROR(expectMinRank(kernel, "input", call.inputs[0], 1));
  width = call.inputs[0].dim(-1);
  return expectShape(kernel, "weight", call.inputs[1], {width});
}

} // namespace

Status rmsNorm(KernelCall &call) {
  const char *k = "rms_norm";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}, {"weight", Elem::Float}},
                               {{"result", Elem::Float}}));
  int64_t width;
  double eps;
  DS_RETURN_IF_ERROR(checkShapes(k, call, width, eps));
  int64_t n = call.inputs[0].numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], n));
  if (width == 0 || n == 0)
    return Status::ok();
  int64_t rows = n / width;
  rmsNormKernel<<<ceilDiv(rows, kWarpsPerBlock), kWarpsPerBlock * 32, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatIn(call.inputs[1]), floatOut(call.outputs[0]), rows, width,
      float(eps));
  return launchCheck(k, "rmsNormKernel");
}

Status rmsNormGrad(KernelCall &call) {
  const char *k = "rms_norm_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"input", Elem::Float}, {"weight", Elem::Float}, {"result_grad", Elem::Float}},
      {{"input_grad", Elem::Float}, {"weight_grad", Elem::Float}}));
  int64_t width;
  double eps;
  DS_RETURN_IF_ERROR(checkShapes(k, call, width, eps));
  int64_t n = call.inputs[0].numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[2], n));
  DS_RETURN_IF_ERROR(expectElements(k, "input_grad", call.outputs[0], n));
  DS_RETURN_IF_ERROR(expectElements(k, "weight_grad", call.outputs[1], width));
  if (width == 0)
    return Status::ok();
  cudaStream_t stream = streamOf(call);
  int64_t rows = n / width;
  if (rows == 0)
    return cudaCheck(cudaMemsetAsync(call.outputs[1].data, 0, call.outputs[1].sizeInBytes(),
                                     stream),
                     k, "cudaMemsetAsync(weight_grad)");
  // Enough chunks to spread the column sums over the device, few enough that the final
  // pass over the partials stays cheap.
  int64_t chunks = std::min<int64_t>(rows, 128);
  int64_t rowsPerChunk = ceilDiv(rows, chunks);
  chunks = ceilDiv(rows, rowsPerChunk);
  ScratchCarver carve;
  size_t rOffset = carve.reserve(rows * sizeof(float));
  size_t partialOffset = carve.reserve(chunks * width * sizeof(float));
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, carve.total(), scratch));
  float *inverseRms = reinterpret_cast<float *>(static_cast<char *>(scratch) + rOffset);
  float *partial = reinterpret_cast<float *>(static_cast<char *>(scratch) + partialOffset);

  FloatIn x = floatIn(call.inputs[0]), dy = floatIn(call.inputs[2]);
  rmsNormGradRowsKernel<<<ceilDiv(rows, kWarpsPerBlock), kWarpsPerBlock * 32, 0, stream>>>(
      x, floatIn(call.inputs[1]), dy, floatOut(call.outputs[0]), inverseRms, rows, width,
      float(eps));
  DS_RETURN_IF_ERROR(launchCheck(k, "rmsNormGradRowsKernel"));
  dim3 grid(unsigned(ceilDiv(width, 256)), unsigned(chunks));
  rmsNormGradPartialKernel<<<grid, 256, 0, stream>>>(x, dy, inverseRms, partial, rows, width,
                                                      rowsPerChunk);
  DS_RETURN_IF_ERROR(launchCheck(k, "rmsNormGradPartialKernel"));
  sumChunksKernel<<<ceilDiv(width, 256), 256, 0, stream>>>(partial, floatOut(call.outputs[1]),
                                                          chunks, width);
  return launchCheck(k, "sumChunksKernel");
}

} // namespace ds::rt::cuda
