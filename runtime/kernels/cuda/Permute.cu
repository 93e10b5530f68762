//===- Permute.cu - ds.dispatch, ds.combine and their gradients -----------===//
//
// dispatch: the T*K (token, slot) pairs are sorted by expert with CUB's stable radix sort
// of (expert, pair index), which orders each expert's rows by (token, slot): exactly the
// CPU's stable counting sort, so positions and permuted rows match it bit for bit.
// counts is an integer histogram (integer atomics commute: deterministic).
// combine / dispatch_grad: one block per token gathers its K rows and sums them in slot
// order. combine_grad: the weight gradient is one dot product per (token, slot); the input
// gradient is a scatter, done by the deterministic sorted scatter-add (SortedScatter.h) so
// that positions which are not a permutation still sum in (token, slot) order.
// All are memory-bound: each moves T*K rows of D once.
//
// Expert indices and positions are checked on the host by the CPU kernels; here that
// would cost a host sync. An index outside [0, E) is left out of counts and its pair gets
// position -1 and a NaN row; a position outside the rows reads as NaN (combine,
// dispatch_grad) or is skipped (combine_grad): visible downstream, never out of bounds.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/SortedScatter.h"

#include <cub/device/device_radix_sort.cuh>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void histogramKernel(const int32_t *indices, int64_t pairs, int32_t *counts,
                                int64_t experts) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < pairs;
       i += int64_t(gridDim.x) * blockDim.x) {
    int32_t e = indices[i];
    if (e >= 0 && e < experts)
      atomicAdd(&counts[e], 1);
  }
}

/// Row p of the permuted input is the sorted pair's token row; invalid experts sort to
/// the end and get NaN rows and position -1. `vector` (width % 8 == 0, aligned rows): 8
/// columns per thread and access.
__global__ void permuteKernel(const int32_t *sortedExperts, const int32_t *sortedPairs,
                              int64_t pairs, int64_t topK, int64_t experts, FloatIn input,
                              FloatOut permuted, int32_t *positions, int64_t width,
                              bool vector) {
  for (int64_t p = blockIdx.x; p < pairs; p += gridDim.x) {
    int64_t pair = sortedPairs[p];
    int32_t expert = sortedExperts[p];
    bool valid = expert >= 0 && expert < experts;
    if (threadIdx.x == 0)
      positions[pair] = valid ? int32_t(p) : -1;
    int64_t token = pair / topK;
    if (vector) {
      for (int64_t j = kVectorWidth * int64_t(threadIdx.x); j < width;
           j += kVectorWidth * int64_t(blockDim.x)) {
        float row[kVectorWidth];
        input.load8(token * width + j, row);
#pragma unroll
        for (int u = 0; u < kVectorWidth; ++u)
          row[u] = valid ? row[u] : NAN;
        permuted.store8(p * width + j, row);
      }
      continue;
    }
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x)
      permuted.store(p * width + j, valid ? input[token * width + j] : NAN);
  }
}

/// The term of one slot: weight * row element, NaN for a position outside the rows.
__device__ __forceinline__ float slotTerm(bool validRow, float w, float value) {
  return validRow ? __fmul_rn(w, value) : NAN;
}

/// result[t] = sum over slots of weight * rows[positions[t, slot]] (weight 1 when
/// unweighted), slots in order. `vector` (width % 8 == 0, aligned rows): 8 columns per
/// thread and access, the same sums.
__global__ void gatherSumKernel(FloatIn rows, int64_t rowCount, const int32_t *positions,
                                FloatIn weights, bool weighted, FloatOut result,
                                int64_t tokens, int64_t topK, int64_t width, bool vector) {
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    if (vector) {
      for (int64_t j = kVectorWidth * int64_t(threadIdx.x); j < width;
           j += kVectorWidth * int64_t(blockDim.x)) {
        float sum[kVectorWidth] = {};
        for (int64_t slot = 0; slot < topK; ++slot) {
          int64_t row = positions[t * topK + slot];
          bool validRow = row >= 0 && row < rowCount;
          float w = weighted ? weights[t * topK + slot] : 1.0f, values[kVectorWidth] = {};
          if (validRow)
            rows.load8(row * width + j, values);
#pragma unroll
          for (int u = 0; u < kVectorWidth; ++u)
            sum[u] += slotTerm(validRow, w, values[u]);
        }
        result.store8(t * width + j, sum);
      }
      continue;
    }
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      float sum = 0.0f;
      for (int64_t slot = 0; slot < topK; ++slot) {
        int64_t row = positions[t * topK + slot];
        bool validRow = row >= 0 && row < rowCount;
        float w = weighted ? weights[t * topK + slot] : 1.0f;
        sum += slotTerm(validRow, w, validRow ? rows[row * width + j] : 0.0f);
      }
      result.store(t * width + j, sum);
    }
  }
}

/// Whether gatherSumKernel may take 8 columns at a time for these rows and result.
bool gatherVector(const TensorView &rows, const TensorView &result, int64_t width) {
  return width % kVectorWidth == 0 && isVectorAligned(rows.data) && isVectorAligned(result.data);
}

/// weights_grad[t, slot] = dy[t] . input[positions[t, slot]]: one warp per pair; with
/// `vector` (width % 8 == 0, aligned rows) each lane takes 8 columns per access.
__global__ void slotDotKernel(FloatIn resultGrad, FloatIn input, int64_t rowCount,
                              const int32_t *positions, FloatOut weightsGrad, int64_t pairs,
                              int64_t topK, int64_t width, bool vector) {
  int64_t warp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  int lane = threadIdx.x & 31;
  for (int64_t pair = warp; pair < pairs; pair += warps) {
    int64_t row = positions[pair], token = pair / topK;
    float dot = 0.0f;
    if (row >= 0 && row < rowCount && vector)
      for (int64_t j = kVectorWidth * int64_t(lane); j < width; j += kVectorWidth * 32) {
        float dy[kVectorWidth], x[kVectorWidth];
        resultGrad.load8(token * width + j, dy);
        input.load8(row * width + j, x);
#pragma unroll
        for (int u = 0; u < kVectorWidth; ++u)
          dot += dy[u] * x[u];
      }
    else if (row >= 0 && row < rowCount)
      for (int64_t j = lane; j < width; j += 32)
        dot += resultGrad[token * width + j] * input[row * width + j];
    dot = warpSum(dot);
    if (lane == 0)
      weightsGrad.store(pair, row >= 0 && row < rowCount ? dot : NAN);
  }
}

} // namespace

Status dispatch(KernelCall &call) {
  const char *k = "dispatch";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}, {"indices", Elem::Index}},
                               {{"permuted", Elem::Float},
                                {"counts", Elem::Index},
                                {"positions", Elem::Index}}));
  int64_t experts, tokens, width, slotTokens, topK;
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "num_experts", experts));
  const TensorView &input = call.inputs[0], &indices = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMatrix(k, "input", input, "[rows, D]", tokens, width));
  DS_RETURN_IF_ERROR(expectMatrix(k, "indices", indices, "[T, K]", slotTokens, topK));
  if (slotTokens != tokens)
    return errorf(k, ": indices has shape ", indices.shapeString(), ", expected [", tokens,
                  ", K]");
  DS_RETURN_IF_ERROR(expectShape(k, "permuted", call.outputs[0], {tokens * topK, width}));
  DS_RETURN_IF_ERROR(expectShape(k, "counts", call.outputs[1], {experts}));
  DS_RETURN_IF_ERROR(expectShape(k, "positions", call.outputs[2], {tokens, topK}));
  int64_t pairs = tokens * topK;
  if (pairs > INT32_MAX)
    return errorf(k, ": ", pairs, " (token, slot) pairs exceed the sort's 32-bit index");
  cudaStream_t stream = streamOf(call);
  int32_t *counts = call.outputs[1].as<int32_t>();
  if (experts > 0)
    DS_RETURN_IF_ERROR(cudaCheck(cudaMemsetAsync(counts, 0, experts * sizeof(int32_t), stream),
                                 k, "cudaMemsetAsync(counts)"));
  if (pairs == 0)
    return Status::ok();
  const int32_t *expertOf = indices.as<const int32_t>();
  histogramKernel<<<gridFor(pairs, 256), 256, 0, stream>>>(expertOf, pairs, counts, experts);
  DS_RETURN_IF_ERROR(launchCheck(k, "histogramKernel"));

  KeySort sorted;
  DS_RETURN_IF_ERROR(sortByKey(k, stream, expertOf, pairs, experts, sorted));
  bool vector = width % kVectorWidth == 0 && isVectorAligned(input.data) &&
                isVectorAligned(call.outputs[0].data);
  permuteKernel<<<gridFor(pairs * kThreads, kThreads), kThreads, 0, stream>>>(
      sorted.sortedKeys, sorted.sortedEntries, pairs, topK, experts, floatIn(input),
      floatOut(call.outputs[0]), call.outputs[2].as<int32_t>(), width, vector);
  return launchCheck(k, "permuteKernel");
}

Status dispatchGrad(KernelCall &call) {
  const char *k = "dispatch_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"permuted_grad", Elem::Float}, {"positions", Elem::Index}},
                               {{"input_grad", Elem::Float}}));
  int64_t rows, width, tokens, topK;
  DS_RETURN_IF_ERROR(expectMatrix(k, "permuted_grad", call.inputs[0], "[rows, D]", rows, width));
  DS_RETURN_IF_ERROR(expectMatrix(k, "positions", call.inputs[1], "[T, K]", tokens, topK));
  DS_RETURN_IF_ERROR(expectShape(k, "input_grad", call.outputs[0], {tokens, width}));
  if (tokens == 0 || width == 0)
    return Status::ok();
  gatherSumKernel<<<gridFor(tokens * kThreads, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), rows, call.inputs[1].as<const int32_t>(), FloatIn{nullptr, false},
      false, floatOut(call.outputs[0]), tokens, topK, width,
      gatherVector(call.inputs[0], call.outputs[0], width));
  return launchCheck(k, "gatherSumKernel");
}

Status combine(KernelCall &call) {
  const char *k = "combine";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"input", Elem::Float}, {"positions", Elem::Index}, {"weights", Elem::Float}},
      {{"result", Elem::Float}}));
  int64_t rows, width, tokens, topK;
  DS_RETURN_IF_ERROR(expectMatrix(k, "input", call.inputs[0], "[rows, D]", rows, width));
  DS_RETURN_IF_ERROR(expectMatrix(k, "positions", call.inputs[1], "[T, K]", tokens, topK));
  DS_RETURN_IF_ERROR(expectShape(k, "weights", call.inputs[2], {tokens, topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], {tokens, width}));
  if (tokens == 0 || width == 0)
    return Status::ok();
  gatherSumKernel<<<gridFor(tokens * kThreads, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), rows, call.inputs[1].as<const int32_t>(),
      floatIn(call.inputs[2]), true, floatOut(call.outputs[0]), tokens, topK, width,
      gatherVector(call.inputs[0], call.outputs[0], width));
  return launchCheck(k, "gatherSumKernel");
}

Status combineGrad(KernelCall &call) {
  const char *k = "combine_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"result_grad", Elem::Float},
                                {"input", Elem::Float},
                                {"positions", Elem::Index},
                                {"weights", Elem::Float}},
                               {{"input_grad", Elem::Float}, {"weights_grad", Elem::Float}}));
  int64_t tokens, width, rows, inputWidth, slotTokens, topK;
  DS_RETURN_IF_ERROR(expectMatrix(k, "result_grad", call.inputs[0], "[rows, D]", tokens, width));
  DS_RETURN_IF_ERROR(expectMatrix(k, "input", call.inputs[1], "[rows, D]", rows, inputWidth));
  if (inputWidth != width)
    return errorf(k, ": input has shape ", call.inputs[1].shapeString(),
                  " but result_grad has rows of ", width);
  DS_RETURN_IF_ERROR(expectMatrix(k, "positions", call.inputs[2], "[T, K]", slotTokens, topK));
  if (slotTokens != tokens)
    return errorf(k, ": positions has shape ", call.inputs[2].shapeString(), ", expected [",
                  tokens, ", K]");
  DS_RETURN_IF_ERROR(expectShape(k, "weights", call.inputs[3], {tokens, topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "input_grad", call.outputs[0], {rows, width}));
  DS_RETURN_IF_ERROR(expectShape(k, "weights_grad", call.outputs[1], {tokens, topK}));
  cudaStream_t stream = streamOf(call);
  int64_t pairs = tokens * topK;
  if (pairs > 0) {
    slotDotKernel<<<gridFor(pairs * 32, 256), 256, 0, stream>>>(
        floatIn(call.inputs[0]), floatIn(call.inputs[1]), rows,
        call.inputs[2].as<const int32_t>(), floatOut(call.outputs[1]), pairs, topK, width,
        gatherVector(call.inputs[1], call.inputs[0], width));
    DS_RETURN_IF_ERROR(launchCheck(k, "slotDotKernel"));
  }
  // input_grad[positions[t, slot]] += weights[t, slot] * dy[t]: entry (t, slot) reads dy
  // row t = entry / K.
  ScatterRequest request{call.inputs[2].as<const int32_t>(), pairs, &call.inputs[0], topK,
                         &call.inputs[3], &call.outputs[0], rows, width};
  return sortedScatterAdd(k, stream, request);
}

} // namespace ds::rt::cuda
