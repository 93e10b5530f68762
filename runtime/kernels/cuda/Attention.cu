//===- Attention.cu - ds.attention and ds.attention_grad ------------------===//
//
// softmax(q k^T * scale) v per batch and head, causal by default; q, k [B, S, H, Dqk],
// v [B, S, H, Dv] (V3's MLA: Dqk 192, Dv 128). A straightforward first version in FP32 on
// the CUDA cores, FlashAttention-style so that no S x S matrix is ever stored:
//  * forward: one warp per query row, 8 rows per block sharing 32-key tiles of K and V
//    staged in shared memory. Lane j scores key j of the tile; the online softmax keeps a
//    running max and sum (Milakov & Gimelshein 2018) and rescales the output accumulator,
//    of which each lane owns columns lane, lane+32, ...
//  * backward (FlashAttention-2, Dao 2023, Alg. 2, P recomputed): a dQ pass per query row
//    (first the row's log-sum-exp L and D = rowsum(P * dP), both online in one sweep, then
//    dQ = scale * dS K), and a dK/dV pass per key row over 32-query tiles,
//    dV = P^T dO, dK = scale * dS^T Q, with dS = P * (dP - D) and P = exp(s - L).
//    D is taken from the recomputed P, as the CPU reference does, so it stays exact when
//    the stored result is BF16. L and D go to scratch between the passes.
// No atomics: every output element is owned by one lane, so results are reproducible.
// Roofline: 4·B·H·S²·(Dqk+Dv)/2 FLOPs causal forward; on CUDA cores this runs far below
// the tensor-core bound (cuDNN's SDPA or a wgmma kernel is the replacement), but it is
// exact enough to be the CUDA path's reference and handles any Dqk, Dv <= 256.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

namespace ds::rt::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kTile = 32;
constexpr int kMaxChunks = 8; // columns per lane: head dims up to 8 * 32 = 256

struct Dims {
  int64_t batch, seq, heads, qkDim, vDim;
  int strideQk, strideV; // shared-memory row strides, odd so column reads are conflict-free
  float scale;
  bool causal;
};

__device__ __forceinline__ int64_t rowOffset(const Dims &d, int64_t bh, int64_t s,
                                             int64_t width) {
  int64_t b = bh / d.heads, h = bh % d.heads;
  return ((b * d.seq + s) * d.heads + h) * width;
}

/// Stages rows [first, first + kTile) of x (head bh) into tile[kTile][stride]; rows past
/// the sequence read as 0.
__device__ void loadTile(FloatIn x, const Dims &d, int64_t bh, int64_t first, int64_t width,
                         int stride, float *tile) {
  for (int idx = threadIdx.x; idx < kTile * width; idx += blockDim.x) {
    int r = idx / int(width), c = idx % int(width);
    int64_t s = first + r;
    tile[r * stride + c] = s < d.seq ? x[rowOffset(d, bh, s, width) + c] : 0.0f;
  }
}

/// The calling warp copies row s of x (head bh) into dst[0, width), a column per lane.
__device__ __forceinline__ void loadRow(FloatIn x, const Dims &d, int64_t bh, int64_t s,
                                        int64_t width, float *dst) {
  for (int c = threadIdx.x & 31; c < width; c += 32)
    dst[c] = x[rowOffset(d, bh, s, width) + c];
}

/// Stages the K and V tiles of keys [first, first + kTile); every thread of the block
/// calls it. The first barrier keeps the previous tiles until every warp is done with them.
__device__ __forceinline__ void loadKeyValueTiles(FloatIn k, FloatIn v, const Dims &d,
                                                  int64_t bh, int64_t first, float *kTileS,
                                                  float *vTileS) {
  __syncthreads();
  loadTile(k, d, bh, first, d.qkDim, d.strideQk, kTileS);
  loadTile(v, d, bh, first, d.vDim, d.strideV, vTileS);
  __syncthreads();
}

__device__ __forceinline__ float dot(const float *a, const float *b, int64_t n) {
  float sum = 0.0f;
  for (int64_t c = 0; c < n; ++c)
    sum += a[c] * b[c];
  return sum;
}

__global__ void forwardKernel(FloatIn q, FloatIn k, FloatIn v, FloatOut out, Dims d) {
  extern __shared__ float shared[];
  float *qRows = shared;                            // [kWarps][qkDim]
  float *kTileS = qRows + kWarps * d.qkDim;         // [kTile][strideQk]
  float *vTileS = kTileS + kTile * d.strideQk;      // [kTile][strideV]
  int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  int64_t bh = blockIdx.y;
  int64_t firstRow = int64_t(blockIdx.x) * kWarps, row = firstRow + warp;
  bool active = row < d.seq;
  if (active)
    loadRow(q, d, bh, row, d.qkDim, qRows + warp * d.qkDim);
  float runningMax = -INFINITY, runningSum = 0.0f, acc[kMaxChunks];
#pragma unroll
  for (int c = 0; c < kMaxChunks; ++c)
    acc[c] = 0.0f;
  int64_t keyEnd = d.causal ? min(d.seq, firstRow + kWarps) : d.seq;
  for (int64_t t0 = 0; t0 < keyEnd; t0 += kTile) {
    loadKeyValueTiles(k, v, d, bh, t0, kTileS, vTileS);
    if (!active)
      continue;
    int64_t key = t0 + lane;
    bool visible = key < d.seq && (!d.causal || key <= row);
    float s = visible ? dot(qRows + warp * d.qkDim, kTileS + lane * d.strideQk, d.qkDim) *
                            d.scale
                      : -INFINITY;
    float newMax = fmaxf(runningMax, warpMax(s));
    if (newMax == -INFINITY)
      continue;
    float p = visible ? expf(s - newMax) : 0.0f;
    float correction = expf(runningMax - newMax);
    runningSum = runningSum * correction + warpSum(p);
    runningMax = newMax;
#pragma unroll
    for (int c = 0; c < kMaxChunks; ++c)
      acc[c] *= correction;
    for (int j = 0; j < kTile; ++j) {
      float pj = __shfl_sync(kFullMask, p, j);
#pragma unroll
      for (int c = 0; c < kMaxChunks; ++c)
        if (lane + 32 * c < d.vDim)
          acc[c] += pj * vTileS[j * d.strideV + lane + 32 * c];
    }
  }
  if (!active)
    return;
  float inverse = 1.0f / runningSum;
#pragma unroll
  for (int c = 0; c < kMaxChunks; ++c)
    if (lane + 32 * c < d.vDim)
      out.store(rowOffset(d, bh, row, d.vDim) + lane + 32 * c, acc[c] * inverse);
}

/// dQ for one query row per warp; also writes the row's L and D for the dK/dV pass.
__global__ void queryGradKernel(FloatIn q, FloatIn k, FloatIn v, FloatIn dOut, FloatOut dq,
                                float *logSumExp, float *rowDot, Dims d) {
  extern __shared__ float shared[];
  float *qRows = shared;                            // [kWarps][qkDim]
  float *dORows = qRows + kWarps * d.qkDim;         // [kWarps][vDim]
  float *kTileS = dORows + kWarps * d.vDim;         // [kTile][strideQk]
  float *vTileS = kTileS + kTile * d.strideQk;      // [kTile][strideV]
  int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  int64_t bh = blockIdx.y;
  int64_t firstRow = int64_t(blockIdx.x) * kWarps, row = firstRow + warp;
  bool active = row < d.seq;
  if (active) {
    loadRow(q, d, bh, row, d.qkDim, qRows + warp * d.qkDim);
    loadRow(dOut, d, bh, row, d.vDim, dORows + warp * d.vDim);
  }
  const float *qRow = qRows + warp * d.qkDim, *dORow = dORows + warp * d.vDim;
  int64_t keyEnd = d.causal ? min(d.seq, firstRow + kWarps) : d.seq;

  // Sweep 1: running max, sum of exp and sum of exp * dP, rescaled together.
  float runningMax = -INFINITY, runningSum = 0.0f, runningDot = 0.0f;
  for (int64_t t0 = 0; t0 < keyEnd; t0 += kTile) {
    loadKeyValueTiles(k, v, d, bh, t0, kTileS, vTileS);
    if (!active)
      continue;
    int64_t key = t0 + lane;
    bool visible = key < d.seq && (!d.causal || key <= row);
    float s = visible ? dot(qRow, kTileS + lane * d.strideQk, d.qkDim) * d.scale : -INFINITY;
    float dp = dot(dORow, vTileS + lane * d.strideV, d.vDim);
    float newMax = fmaxf(runningMax, warpMax(s));
    if (newMax == -INFINITY)
      continue;
    float p = visible ? expf(s - newMax) : 0.0f;
    float correction = expf(runningMax - newMax);
    runningSum = runningSum * correction + warpSum(p);
    runningDot = runningDot * correction + warpSum(p * dp);
    runningMax = newMax;
  }
  float lse = runningMax + logf(runningSum);
  float dRow = runningDot / runningSum;

  // Sweep 2: dQ = scale * sum_j P_ij (dP_ij - D_i) K_j.
  float acc[kMaxChunks];
#pragma unroll
  for (int c = 0; c < kMaxChunks; ++c)
    acc[c] = 0.0f;
  for (int64_t t0 = 0; t0 < keyEnd; t0 += kTile) {
    loadKeyValueTiles(k, v, d, bh, t0, kTileS, vTileS);
    if (!active)
      continue;
    int64_t key = t0 + lane;
    bool visible = key < d.seq && (!d.causal || key <= row);
    float ds = 0.0f;
    if (visible) {
      float s = dot(qRow, kTileS + lane * d.strideQk, d.qkDim) * d.scale;
      float dp = dot(dORow, vTileS + lane * d.strideV, d.vDim);
      ds = expf(s - lse) * (dp - dRow);
    }
    for (int j = 0; j < kTile; ++j) {
      float dsj = __shfl_sync(kFullMask, ds, j);
#pragma unroll
      for (int c = 0; c < kMaxChunks; ++c)
        if (lane + 32 * c < d.qkDim)
          acc[c] += dsj * kTileS[j * d.strideQk + lane + 32 * c];
    }
  }
  if (!active)
    return;
#pragma unroll
  for (int c = 0; c < kMaxChunks; ++c)
    if (lane + 32 * c < d.qkDim)
      dq.store(rowOffset(d, bh, row, d.qkDim) + lane + 32 * c, acc[c] * d.scale);
  if (lane == 0) {
    logSumExp[bh * d.seq + row] = lse;
    rowDot[bh * d.seq + row] = dRow;
  }
}

/// dK and dV for one key row per warp, over 32-query tiles.
__global__ void keyValueGradKernel(FloatIn q, FloatIn k, FloatIn v, FloatIn dOut,
                                   const float *logSumExp, const float *rowDot, FloatOut dk,
                                   FloatOut dv, Dims d) {
  extern __shared__ float shared[];
  float *kRows = shared;                            // [kWarps][qkDim]
  float *vRows = kRows + kWarps * d.qkDim;          // [kWarps][vDim]
  float *qTileS = vRows + kWarps * d.vDim;          // [kTile][strideQk]
  float *dOTileS = qTileS + kTile * d.strideQk;     // [kTile][strideV]
  float *lseTile = dOTileS + kTile * d.strideV;     // [kTile]
  float *dTile = lseTile + kTile;                   // [kTile]
  int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  int64_t bh = blockIdx.y;
  int64_t firstKey = int64_t(blockIdx.x) * kWarps, key = firstKey + warp;
  bool active = key < d.seq;
  if (active) {
    loadRow(k, d, bh, key, d.qkDim, kRows + warp * d.qkDim);
    loadRow(v, d, bh, key, d.vDim, vRows + warp * d.vDim);
  }
  const float *kRow = kRows + warp * d.qkDim, *vRow = vRows + warp * d.vDim;
  float dkAcc[kMaxChunks], dvAcc[kMaxChunks];
#pragma unroll
  for (int c = 0; c < kMaxChunks; ++c)
    dkAcc[c] = dvAcc[c] = 0.0f;
  // Causal: queries before the block's first key see none of its keys.
  int64_t queryStart = d.causal ? firstKey / kTile * kTile : 0;
  for (int64_t t0 = queryStart; t0 < d.seq; t0 += kTile) {
    __syncthreads();
    loadTile(q, d, bh, t0, d.qkDim, d.strideQk, qTileS);
    loadTile(dOut, d, bh, t0, d.vDim, d.strideV, dOTileS);
    if (threadIdx.x < kTile) {
      int64_t query = t0 + threadIdx.x;
      lseTile[threadIdx.x] = query < d.seq ? logSumExp[bh * d.seq + query] : 0.0f;
      dTile[threadIdx.x] = query < d.seq ? rowDot[bh * d.seq + query] : 0.0f;
    }
    __syncthreads();
    if (!active)
      continue;
    int64_t query = t0 + lane;
    bool visible = query < d.seq && (!d.causal || key <= query);
    float p = 0.0f, ds = 0.0f;
    if (visible) {
      float s = dot(qTileS + lane * d.strideQk, kRow, d.qkDim) * d.scale;
      float dp = dot(dOTileS + lane * d.strideV, vRow, d.vDim);
      p = expf(s - lseTile[lane]);
      ds = p * (dp - dTile[lane]);
    }
    for (int i = 0; i < kTile; ++i) {
      float pi = __shfl_sync(kFullMask, p, i), dsi = __shfl_sync(kFullMask, ds, i);
#pragma unroll
      for (int c = 0; c < kMaxChunks; ++c) {
        if (lane + 32 * c < d.vDim)
          dvAcc[c] += pi * dOTileS[i * d.strideV + lane + 32 * c];
        if (lane + 32 * c < d.qkDim)
          dkAcc[c] += dsi * qTileS[i * d.strideQk + lane + 32 * c];
      }
    }
  }
  if (!active)
    return;
#pragma unroll
  for (int c = 0; c < kMaxChunks; ++c) {
    if (lane + 32 * c < d.qkDim)
      dk.store(rowOffset(d, bh, key, d.qkDim) + lane + 32 * c, dkAcc[c] * d.scale);
    if (lane + 32 * c < d.vDim)
      dv.store(rowOffset(d, bh, key, d.vDim) + lane + 32 * c, dvAcc[c]);
  }
}

int oddStride(int64_t width) { return int(width % 2 == 0 ? width + 1 : width); }

Status readDims(const char *kernel, const KernelCall &call, Dims &d) {
  const TensorView &q = call.inputs[0], &k = call.inputs[1], &v = call.inputs[2];
  if (q.rank() != 4)
    return errorf(kernel, ": query has shape ", q.shapeString(), ", expected [B, S, H, Dqk]");
  d.batch = q.dim(0);
  d.seq = q.dim(1);
  d.heads = q.dim(2);
  d.qkDim = q.dim(3);
  DS_RETURN_IF_ERROR(expectShape(kernel, "key", k, q.shape));
  if (v.rank() != 4 || v.dim(0) != d.batch || v.dim(1) != d.seq || v.dim(2) != d.heads)
    return errorf(kernel, ": value has shape ", v.shapeString(), ", expected [", d.batch, ", ",
                  d.seq, ", ", d.heads, ", Dv]");
  d.vDim = v.dim(3);
  if (d.qkDim > 32 * kMaxChunks || d.vDim > 32 * kMaxChunks)
    return errorf(kernel, ": head dimensions ", d.qkDim, " and ", d.vDim,
                  " exceed the CUDA kernel's limit of ", 32 * kMaxChunks);
  double scale;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, kernel, "scale", scale));
  d.scale = float(scale);
  d.causal = call.attrs.getBool("causal", true);
  d.strideQk = oddStride(d.qkDim);
  d.strideV = oddStride(d.vDim);
  if (d.batch * d.heads > 65535)
    return errorf(kernel, ": batch x heads = ", d.batch * d.heads, " exceeds the grid limit");
  return Status::ok();
}

template <typename Kernel>
Status allowSharedMemory(const char *kernel, Kernel fn, size_t bytes) {
  return cudaCheck(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        int(bytes)),
                   kernel, "cudaFuncSetAttribute(MaxDynamicSharedMemorySize)");
}

} // namespace

Status attention(KernelCall &call) {
  const char *k = "attention";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"query", Elem::Float}, {"key", Elem::Float}, {"value", Elem::Float}},
      {{"result", Elem::Float}}));
  Dims d;
  DS_RETURN_IF_ERROR(readDims(k, call, d));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[2].shape));
  if (d.seq == 0 || d.batch * d.heads == 0 || d.vDim == 0)
    return Status::ok();
  size_t bytes = sizeof(float) * (kWarps * d.qkDim + kTile * (d.strideQk + d.strideV));
  DS_RETURN_IF_ERROR(allowSharedMemory(k, forwardKernel, bytes));
  dim3 grid(unsigned(ceilDiv(d.seq, kWarps)), unsigned(d.batch * d.heads));
  forwardKernel<<<grid, kWarps * 32, bytes, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatIn(call.inputs[1]), floatIn(call.inputs[2]),
      floatOut(call.outputs[0]), d);
  return launchCheck(k, "forwardKernel");
}

Status attentionGrad(KernelCall &call) {
  const char *k = "attention_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"query", Elem::Float},
                                {"key", Elem::Float},
                                {"value", Elem::Float},
                                {"result", Elem::Float},
                                {"result_grad", Elem::Float}},
                               {{"query_grad", Elem::Float},
                                {"key_grad", Elem::Float},
                                {"value_grad", Elem::Float}}));
  Dims d;
  DS_RETURN_IF_ERROR(readDims(k, call, d));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.inputs[3], call.inputs[2].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "result_grad", call.inputs[4], call.inputs[2].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "query_grad", call.outputs[0], call.inputs[0].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "key_grad", call.outputs[1], call.inputs[1].shape));
  DS_RETURN_IF_ERROR(expectShape(k, "value_grad", call.outputs[2], call.inputs[2].shape));
  int64_t rows = d.batch * d.heads * d.seq;
  if (rows == 0)
    return Status::ok();
  cudaStream_t stream = streamOf(call);
  ScratchCarver carve;
  size_t lseAt = carve.reserve(rows * sizeof(float));
  size_t dotAt = carve.reserve(rows * sizeof(float));
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, carve.total(), scratch));
  auto *logSumExp = reinterpret_cast<float *>(static_cast<char *>(scratch) + lseAt);
  auto *rowDot = reinterpret_cast<float *>(static_cast<char *>(scratch) + dotAt);
  FloatIn q = floatIn(call.inputs[0]), key = floatIn(call.inputs[1]);
  FloatIn value = floatIn(call.inputs[2]), dOut = floatIn(call.inputs[4]);
  dim3 grid(unsigned(ceilDiv(d.seq, kWarps)), unsigned(d.batch * d.heads));
  size_t rowsBytes = sizeof(float) * kWarps * (d.qkDim + d.vDim);
  size_t tileBytes = sizeof(float) * kTile * (d.strideQk + d.strideV);
  DS_RETURN_IF_ERROR(allowSharedMemory(k, queryGradKernel, rowsBytes + tileBytes));
  queryGradKernel<<<grid, kWarps * 32, rowsBytes + tileBytes, stream>>>(
      q, key, value, dOut, floatOut(call.outputs[0]), logSumExp, rowDot, d);
  DS_RETURN_IF_ERROR(launchCheck(k, "queryGradKernel"));
  size_t kvBytes = rowsBytes + tileBytes + sizeof(float) * 2 * kTile;
  DS_RETURN_IF_ERROR(allowSharedMemory(k, keyValueGradKernel, kvBytes));
  keyValueGradKernel<<<grid, kWarps * 32, kvBytes, stream>>>(
      q, key, value, dOut, logSumExp, rowDot, floatOut(call.outputs[1]),
      floatOut(call.outputs[2]), d);
  return launchCheck(k, "keyValueGradKernel");
}

} // namespace ds::rt::cuda
