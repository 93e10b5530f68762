#include "runtime/kernels/cuda/SortedScatter.h"

#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void iotaKernel(int32_t *values, int64_t count) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    values[i] = int32_t(i);
}

/// Sums one run of equal keys into its dst row; grid.x walks the sorted entries (only the
/// first entry of a run works), grid.y the row's columns in blocks of kThreads. A run is
/// summed in entry order (the CPU's order, bit for bit), one column per thread; the loads
/// of kUnroll entries are issued before their adds, so a long run (a frequent token id:
/// thousands of entries) waits on memory kUnroll times less often than a plain loop, and
/// the columns of a long run spread over gridDim.y blocks instead of one.
constexpr int kUnroll = 8;

__global__ void runSumKernel(const int32_t *sortedKeys, const int32_t *sortedEntries,
                             int64_t count, FloatIn src, int64_t srcStride, FloatIn weights,
                             bool weighted, FloatOut dst, int64_t dstRows, int64_t width) {
  int64_t j = int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  for (int64_t i = blockIdx.x; i < count; i += gridDim.x) {
    int32_t key = sortedKeys[i];
    if ((i > 0 && sortedKeys[i - 1] == key) || key < 0 || key >= dstRows)
      continue;
    int64_t end = i + 1;
    while (end < count && sortedKeys[end] == key)
      ++end;
    if (j >= width)
      continue;
    float sum = 0.0f;
    int64_t r = i;
    for (; r + kUnroll <= end; r += kUnroll) {
      float term[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        int64_t entry = sortedEntries[r + u];
        term[u] = (weighted ? weights[entry] : 1.0f) * src[(entry / srcStride) * width + j];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        sum += term[u];
    }
    for (; r < end; ++r) {
      int64_t entry = sortedEntries[r];
      sum += (weighted ? weights[entry] : 1.0f) * src[(entry / srcStride) * width + j];
    }
    dst.store(int64_t(key) * width + j, sum);
  }
}

} // namespace

Status sortedScatterAdd(const char *kernel, cudaStream_t stream, const ScatterRequest &r) {
  if (r.count > INT32_MAX)
    return errorf(kernel, ": ", r.count, " entries exceed the sort's 32-bit entry index");
  DS_RETURN_IF_ERROR(cudaCheck(cudaMemsetAsync(r.dst->data, 0, r.dst->sizeInBytes(), stream),
                               kernel, "cudaMemsetAsync"));
  if (r.count == 0 || r.width == 0)
    return Status::ok();
  size_t sortBytes = 0;
  DS_RETURN_IF_ERROR(cudaCheck(cub::DeviceRadixSort::SortPairs(
                                   nullptr, sortBytes, static_cast<const int32_t *>(nullptr),
                                   static_cast<int32_t *>(nullptr),
                                   static_cast<const int32_t *>(nullptr),
                                   static_cast<int32_t *>(nullptr), int(r.count), 0, 32, stream),
                               kernel, "cub::DeviceRadixSort::SortPairs(size query)"));
  ScratchCarver carve;
  size_t sortedKeysAt = carve.reserve(r.count * sizeof(int32_t));
  size_t entriesAt = carve.reserve(r.count * sizeof(int32_t));
  size_t sortedEntriesAt = carve.reserve(r.count * sizeof(int32_t));
  size_t sortAt = carve.reserve(sortBytes);
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(kernel, stream, carve.total(), scratch));
  char *base = static_cast<char *>(scratch);
  auto *sortedKeys = reinterpret_cast<int32_t *>(base + sortedKeysAt);
  auto *entries = reinterpret_cast<int32_t *>(base + entriesAt);
  auto *sortedEntries = reinterpret_cast<int32_t *>(base + sortedEntriesAt);

  iotaKernel<<<gridFor(r.count, 256), 256, 0, stream>>>(entries, r.count);
  DS_RETURN_IF_ERROR(launchCheck(kernel, "iotaKernel"));
  // All 32 key bits: a negative (invalid) key then sorts apart from every valid run.
  DS_RETURN_IF_ERROR(cudaCheck(cub::DeviceRadixSort::SortPairs(base + sortAt, sortBytes,
                                                               r.keys, sortedKeys, entries,
                                                               sortedEntries, int(r.count), 0,
                                                               32, stream),
                               kernel, "cub::DeviceRadixSort::SortPairs"));
  FloatIn weights = r.weights ? floatIn(*r.weights) : FloatIn{nullptr, false};
  unsigned columnBlocks = unsigned(ceilDiv(r.width, kThreads));
  if (columnBlocks > 65535)
    return errorf(kernel, ": rows of ", r.width, " elements exceed the scatter's grid");
  dim3 grid(std::max(1u, gridFor(r.count * kThreads, kThreads) / columnBlocks), columnBlocks);
  runSumKernel<<<grid, kThreads, 0, stream>>>(
      sortedKeys, sortedEntries, r.count, floatIn(*r.src), r.srcStride, weights,
      r.weights != nullptr, floatOut(*r.dst), r.dstRows, r.width);
  return launchCheck(kernel, "runSumKernel");
}

} // namespace ds::rt::cuda
