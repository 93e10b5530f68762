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
// The residual fusions of ds-fuse: add_rms_norm stores a + b and normalizes the sum as
// stored (read back, so a BF16 sum is rounded exactly as the add's output was);
// rms_norm_grad_add adds the residual gradient to dx in the rows kernel. Both adds are
// __fadd_rn, which the compiler never contracts into an FMA with the product before it:
// the sum stays that of the separate add launch.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <algorithm>

namespace ds::rt::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

/// A row is walked in chunks of 8 columns: lane l takes columns [8 l, 8 l + 8), then
/// [8 l + 256, ...), and so on. With `vector` (width % 8 == 0, 16-byte aligned tensors) a
/// chunk is one 16-byte access (load8/store8); without, 8 single ones. Either way each lane
/// sums the same columns in the same order, so a row's sums (and rms_norm against the
/// fused add_rms_norm) do not depend on which path a buffer's alignment picks.
constexpr int kChunk = kVectorWidth;
constexpr int kRowStride = 32 * kChunk;

__device__ __forceinline__ void loadChunk(FloatIn t, int64_t at, int64_t left, bool vector,
                                          float v[kChunk]) {
  if (vector) {
    t.load8(at, v);
    return;
  }
#pragma unroll
  for (int u = 0; u < kChunk; ++u)
    v[u] = u < left ? t[at + u] : 0.0f;
}

__device__ __forceinline__ void storeChunk(FloatOut t, int64_t at, int64_t left, bool vector,
                                           const float v[kChunk]) {
  if (vector) {
    t.store8(at, v);
    return;
  }
#pragma unroll
  for (int u = 0; u < kChunk; ++u)
    if (u < left)
      t.store(at + u, v[u]);
}

/// The row's second pass, common to rms_norm and add_rms_norm: y = x * r * w.
__device__ __forceinline__ void normalizeRow(FloatIn x, FloatIn w, FloatOut y, int64_t base,
                                             int64_t width, int lane, float r, bool vector) {
  for (int64_t j = kChunk * lane; j < width; j += kRowStride) {
    float v[kChunk], scale[kChunk], out[kChunk];
    loadChunk(x, base + j, width - j, vector, v);
    loadChunk(w, j, width - j, vector, scale);
#pragma unroll
    for (int u = 0; u < kChunk; ++u)
      out[u] = v[u] * r * scale[u];
    storeChunk(y, base + j, width - j, vector, out);
  }
}

__global__ void rmsNormKernel(FloatIn x, FloatIn w, FloatOut y, int64_t rows, int64_t width,
                              float eps, bool vector) {
  int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x & 31;
  if (row >= rows)
    return;
  int64_t base = row * width;
  float sumSquares = 0.0f;
  for (int64_t j = kChunk * lane; j < width; j += kRowStride) {
    float v[kChunk];
    loadChunk(x, base + j, width - j, vector, v);
#pragma unroll
    for (int u = 0; u < kChunk; ++u)
      sumSquares += v[u] * v[u];
  }
  float r = rsqrtf(warpSum(sumSquares) / float(width) + eps);
  normalizeRow(x, w, y, base, width, lane, r, vector);
}

__global__ void addRmsNormKernel(FloatIn a, FloatIn b, FloatIn w, FloatOut sum, FloatOut y,
                                 int64_t rows, int64_t width, float eps, bool vector) {
  int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x & 31;
  if (row >= rows)
    return;
  int64_t base = row * width;
  FloatIn stored = sum.in(); // each lane reads back only what it wrote itself
  float sumSquares = 0.0f;
  for (int64_t j = kChunk * lane; j < width; j += kRowStride) {
    float lhs[kChunk], rhs[kChunk], added[kChunk], v[kChunk];
    loadChunk(a, base + j, width - j, vector, lhs);
    loadChunk(b, base + j, width - j, vector, rhs);
#pragma unroll
    for (int u = 0; u < kChunk; ++u)
      added[u] = __fadd_rn(lhs[u], rhs[u]);
    storeChunk(sum, base + j, width - j, vector, added);
    loadChunk(stored, base + j, width - j, vector, v);
#pragma unroll
    for (int u = 0; u < kChunk; ++u)
      sumSquares += v[u] * v[u];
  }
  float r = rsqrtf(warpSum(sumSquares) / float(width) + eps);
  normalizeRow(stored, w, y, base, width, lane, r, vector);
}

/// dx (plus the residual gradient when `residual.data` is set) for one row per warp; r of
/// each row goes to `inverseRms` for the dw pass.
__global__ void rmsNormGradRowsKernel(FloatIn x, FloatIn w, FloatIn dy, FloatIn residual,
                                      FloatOut dx, float *inverseRms, int64_t rows,
                                      int64_t width, float eps, bool vector) {
  int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x & 31;
  if (row >= rows)
    return;
  int64_t base = row * width;
  // mean(g * xhat) = r * mean(dy * w * x): both sums come from one pass.
  float sumSquares = 0.0f, dot = 0.0f;
  for (int64_t j = kChunk * lane; j < width; j += kRowStride) {
    float v[kChunk], g[kChunk], scale[kChunk];
    loadChunk(x, base + j, width - j, vector, v);
    loadChunk(dy, base + j, width - j, vector, g);
    loadChunk(w, j, width - j, vector, scale);
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      sumSquares += v[u] * v[u];
      dot += g[u] * scale[u] * v[u];
    }
  }
  float r = rsqrtf(warpSum(sumSquares) / float(width) + eps);
  float meanDot = r * warpSum(dot) / float(width);
  for (int64_t j = kChunk * lane; j < width; j += kRowStride) {
    float v[kChunk], g[kChunk], scale[kChunk], res[kChunk], out[kChunk];
    loadChunk(x, base + j, width - j, vector, v);
    loadChunk(dy, base + j, width - j, vector, g);
    loadChunk(w, j, width - j, vector, scale);
    if (residual.data)
      loadChunk(residual, base + j, width - j, vector, res);
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      float xhat = v[u] * r;
      float grad = r * (g[u] * scale[u] - xhat * meanDot);
      out[u] = residual.data ? __fadd_rn(grad, res[u]) : grad;
    }
    storeChunk(dx, base + j, width - j, vector, out);
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
  // The loads of kRowsInFlight rows are issued before their (in-order) adds, so the thread
  // waits on memory once per batch rather than once per row; products rounded before the
  // add (__fmul_rn is never fused into an FMA), in the tail too.
  constexpr int kRowsInFlight = 8;
  float sum = 0.0f;
  int64_t row = begin;
  for (; row + kRowsInFlight <= end; row += kRowsInFlight) {
    float term[kRowsInFlight];
#pragma unroll
    for (int u = 0; u < kRowsInFlight; ++u)
      term[u] = __fmul_rn(__fmul_rn(dy[(row + u) * width + j], x[(row + u) * width + j]),
                          inverseRms[row + u]);
#pragma unroll
    for (int u = 0; u < kRowsInFlight; ++u)
      sum += term[u];
  }
  for (; row < end; ++row)
    sum += __fmul_rn(__fmul_rn(dy[row * width + j], x[row * width + j]), inverseRms[row]);
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

/// Whether the row kernels may move 8 columns per access: a width of whole chunks and
/// every tensor 16-byte aligned.
bool rowVector(int64_t width, std::initializer_list<const void *> tensors) {
  if (width % kChunk != 0)
    return false;
  for (const void *data : tensors)
    if (!isVectorAligned(data))
      return false;
  return true;
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
      float(eps),
      rowVector(width, {call.inputs[0].data, call.inputs[1].data, call.outputs[0].data}));
  return launchCheck(k, "rmsNormKernel");
}

namespace {

/// rms_norm_grad's launches; with `residual` (rms_norm_grad_add) call.outputs[0] receives
/// dx + residual instead of dx.
Status launchRmsNormGrad(const char *k, KernelCall &call, FloatIn residual) {
  int64_t width;
  double eps;
  DS_RETURN_IF_ERROR(checkShapes(k, call, width, eps));
  int64_t n = call.inputs[0].numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[2], n));
  DS_RETURN_IF_ERROR(
      expectElements(k, residual.data ? "sum" : "input_grad", call.outputs[0], n));
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
      x, floatIn(call.inputs[1]), dy, residual, floatOut(call.outputs[0]), inverseRms, rows,
      width, float(eps),
      rowVector(width, {x.data, call.inputs[1].data, dy.data,
                        residual.data ? residual.data : x.data, call.outputs[0].data}));
  DS_RETURN_IF_ERROR(launchCheck(k, "rmsNormGradRowsKernel"));
  dim3 grid(unsigned(ceilDiv(width, 256)), unsigned(chunks));
  rmsNormGradPartialKernel<<<grid, 256, 0, stream>>>(x, dy, inverseRms, partial, rows, width,
                                                      rowsPerChunk);
  DS_RETURN_IF_ERROR(launchCheck(k, "rmsNormGradPartialKernel"));
  sumChunksKernel<<<ceilDiv(width, 256), 256, 0, stream>>>(partial, floatOut(call.outputs[1]),
                                                          chunks, width);
  return launchCheck(k, "sumChunksKernel");
}

} // namespace

Status rmsNormGrad(KernelCall &call) {
  const char *k = "rms_norm_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"input", Elem::Float}, {"weight", Elem::Float}, {"result_grad", Elem::Float}},
      {{"input_grad", Elem::Float}, {"weight_grad", Elem::Float}}));
  return launchRmsNormGrad(k, call, FloatIn{nullptr, false});
}

Status rmsNormGradAdd(KernelCall &call) {
  const char *k = "rms_norm_grad_add";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"input", Elem::Float},
                                {"weight", Elem::Float},
                                {"result_grad", Elem::Float},
                                {"residual_grad", Elem::Float}},
                               {{"sum", Elem::Float}, {"weight_grad", Elem::Float}}));
  DS_RETURN_IF_ERROR(expectShape(k, "residual_grad", call.inputs[3], call.inputs[0].shape));
  // An empty residual has no memory; it adds nothing to no rows.
  if (call.inputs[3].numElements() == 0)
    return launchRmsNormGrad(k, call, FloatIn{nullptr, false});
  return launchRmsNormGrad(k, call, floatIn(call.inputs[3]));
}

Status addRmsNorm(KernelCall &call) {
  const char *k = "add_rms_norm";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"lhs", Elem::Float}, {"rhs", Elem::Float}, {"weight", Elem::Float}},
                {{"sum", Elem::Float}, {"result", Elem::Float}}));
  const TensorView &lhs = call.inputs[0];
  DS_RETURN_IF_ERROR(expectShape(k, "rhs", call.inputs[1], lhs.shape));
  DS_RETURN_IF_ERROR(expectShape(k, "sum", call.outputs[0], lhs.shape));
  DS_RETURN_IF_ERROR(expectMinRank(k, "lhs", lhs, 1));
  double eps;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "eps", eps));
  int64_t width = lhs.dim(-1), n = lhs.numElements();
  DS_RETURN_IF_ERROR(expectShape(k, "weight", call.inputs[2], {width}));
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[1], n));
  if (width == 0 || n == 0)
    return Status::ok();
  int64_t rows = n / width;
  addRmsNormKernel<<<ceilDiv(rows, kWarpsPerBlock), kWarpsPerBlock * 32, 0, streamOf(call)>>>(
      floatIn(lhs), floatIn(call.inputs[1]), floatIn(call.inputs[2]), floatOut(call.outputs[0]),
      floatOut(call.outputs[1]), rows, width, float(eps),
      rowVector(width, {lhs.data, call.inputs[1].data, call.inputs[2].data,
                        call.outputs[0].data, call.outputs[1].data}));
  return launchCheck(k, "addRmsNormKernel");
}

} // namespace ds::rt::cuda
