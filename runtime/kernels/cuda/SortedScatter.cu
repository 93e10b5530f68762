#include "runtime/kernels/cuda/SortedScatter.h"

#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <cub/device/device_radix_sort.cuh>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void iotaKernel(int32_t *values, int64_t count) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    values[i] = int32_t(i);
}

/// One block per sorted entry; only the first entry of a run of equal keys works.
__global__ void runSumKernel(const int32_t *sortedKeys, const int32_t *sortedEntries,
                             int64_t count, FloatIn src, int64_t srcStride, FloatIn weights,
                             bool weighted, FloatOut dst, int64_t dstRows, int64_t width) {
  for (int64_t i = blockIdx.x; i < count; i += gridDim.x) {
    int32_t key = sortedKeys[i];
    if ((i > 0 && sortedKeys[i - 1] == key) || key < 0 || key >= dstRows)
      continue;
    int64_t end = i + 1;
    while (end < count && sortedKeys[end] == key)
      ++end;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      float sum = 0.0f;
      for (int64_t r = i; r < end; ++r) {
        int64_t entry = sortedEntries[r];
        float w = weighted ? weights[entry] : 1.0f;
        sum += w * src[(entry / srcStride) * width + j];
      }
      dst.store(int64_t(key) * width + j, sum);
    }
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
  runSumKernel<<<gridFor(r.count * kThreads, kThreads), kThreads, 0, stream>>>(
      sortedKeys, sortedEntries, r.count, floatIn(*r.src), r.srcStride, weights,
      r.weights != nullptr, floatOut(*r.dst), r.dstRows, r.width);
  return launchCheck(kernel, "runSumKernel");
}

} // namespace ds::rt::cuda
