#include "runtime/kernels/cuda/SortedScatter.h"

#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <cub/device/device_radix_sort.cuh>

namespace ds::rt::cuda {
namespace {

/// The sort's inputs: each entry's key, clamped to `limit` when invalid, and its index.
__global__ void sortInputsKernel(const int32_t *keys, int64_t count, int32_t limit,
                                 int32_t *mappedKeys, int32_t *entries) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x) {
    int32_t key = keys[i];
    mappedKeys[i] = key >= 0 && key < limit ? key : limit;
    entries[i] = int32_t(i);
  }
}

/// Bits that hold every key in [0, limit].
int keyBits(int64_t limit) {
  int bits = 1;
  while (bits < 31 && (int64_t(1) << bits) <= limit)
    ++bits;
  return bits;
}

/// The scratch of a sort of `count` entries: four [count] arrays, then CUB's.
struct KeySortLayout {
  size_t mappedKeys, entries, sortedKeys, sortedEntries, cub, cubBytes, total;
};

Status keySortLayout(const char *kernel, int64_t count, int64_t limit, KeySortLayout &layout) {
  if (count > INT32_MAX || limit > INT32_MAX - 1)
    return errorf(kernel, ": ", count, " entries with keys below ", limit,
                  " exceed the sort's 32-bit indices");
  DS_RETURN_IF_ERROR(cudaCheck(cub::DeviceRadixSort::SortPairs(
                                   nullptr, layout.cubBytes,
                                   static_cast<const int32_t *>(nullptr),
                                   static_cast<int32_t *>(nullptr),
                                   static_cast<const int32_t *>(nullptr),
                                   static_cast<int32_t *>(nullptr), int(count), 0,
                                   keyBits(limit)),
                               kernel, "cub::DeviceRadixSort::SortPairs(size query)"));
  ScratchCarver carve;
  layout.mappedKeys = carve.reserve(count * sizeof(int32_t));
  layout.entries = carve.reserve(count * sizeof(int32_t));
  layout.sortedKeys = carve.reserve(count * sizeof(int32_t));
  layout.sortedEntries = carve.reserve(count * sizeof(int32_t));
  layout.cub = carve.reserve(layout.cubBytes);
  layout.total = carve.total();
  return Status::ok();
}

/// Sums one run of equal keys into its dst row; blocks walk the sorted entries and only
/// the first entry of a run works. A run is summed in entry order (the CPU's order, bit for
/// bit), one column per thread at a time, but each thread carries kColumns columns (strided
/// by the block) and issues the loads of kUnroll entries for all of them before adding:
/// 32 loads in flight per thread. A long run (a frequent token id: thousands of entries)
/// then waits on memory once per kUnroll entries.
/// The columns are split over gridDim.y blocks of kChunkColumns each, so a long run (the
/// critical path: byte-level text has runs of over a thousand entries) is summed by
/// several blocks at once, each in entry order, so the sums are unchanged.
/// Products are rounded before the add (__fmul_rn: never fused into an FMA), as the CPU
/// computes them.
constexpr int kScatterThreads = 64;
constexpr int kColumns = 4;
constexpr int kChunkColumns = kScatterThreads * kColumns;
constexpr int kUnroll = 8;

/// One past the last index of the run of `key` that starts at `first`: a galloping search
/// (a run of one, combine_grad's permutation, costs one load; a run of n, log n).
__device__ __forceinline__ int64_t runEnd(const int32_t *sortedKeys, int64_t count,
                                          int64_t first, int32_t key) {
  int64_t known = first, stride = 1, probe = first + 1;
  while (probe < count && sortedKeys[probe] == key) {
    known = probe;
    stride *= 2;
    probe = first + stride;
  }
  int64_t lo = known + 1, hi = probe < count ? probe : count;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (sortedKeys[mid] == key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

__global__ void runSumKernel(const int32_t *sortedKeys, const int32_t *sortedEntries,
                             int64_t count, FloatIn src, int64_t srcStride, FloatIn weights,
                             bool weighted, FloatOut dst, int64_t dstRows, int64_t width) {
  for (int64_t i = blockIdx.x; i < count; i += gridDim.x) {
    int32_t key = sortedKeys[i];
    if ((i > 0 && sortedKeys[i - 1] == key) || key < 0 || key >= dstRows)
      continue;
    int64_t end = runEnd(sortedKeys, count, i, key);
    {
      int64_t j0 = int64_t(blockIdx.y) * kChunkColumns + threadIdx.x;
      float sum[kColumns] = {};
      int64_t r = i;
      for (; r + kUnroll <= end; r += kUnroll) {
        float term[kColumns][kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          int64_t entry = sortedEntries[r + u];
          float w = weighted ? weights[entry] : 1.0f;
          int64_t row = (entry / srcStride) * width;
#pragma unroll
          for (int c = 0; c < kColumns; ++c) {
            int64_t j = j0 + int64_t(c) * blockDim.x;
            term[c][u] = j < width ? __fmul_rn(w, src[row + j]) : 0.0f;
          }
        }
#pragma unroll
        for (int c = 0; c < kColumns; ++c)
#pragma unroll
          for (int u = 0; u < kUnroll; ++u)
            sum[c] += term[c][u];
      }
      for (; r < end; ++r) {
        int64_t entry = sortedEntries[r];
        float w = weighted ? weights[entry] : 1.0f;
        int64_t row = (entry / srcStride) * width;
#pragma unroll
        for (int c = 0; c < kColumns; ++c) {
          int64_t j = j0 + int64_t(c) * blockDim.x;
          if (j < width)
            sum[c] += __fmul_rn(w, src[row + j]);
        }
      }
#pragma unroll
      for (int c = 0; c < kColumns; ++c) {
        int64_t j = j0 + int64_t(c) * blockDim.x;
        if (j < width)
          dst.store(int64_t(key) * width + j, sum[c]);
      }
    }
  }
}

} // namespace

Status sortByKey(const char *kernel, cudaStream_t stream, const int32_t *keys, int64_t count,
                 int64_t limit, KeySort &sorted) {
  KeySortLayout layout;
  DS_RETURN_IF_ERROR(keySortLayout(kernel, count, limit, layout));
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(kernel, stream, layout.total, scratch));
  char *base = static_cast<char *>(scratch);
  auto *mappedKeys = reinterpret_cast<int32_t *>(base + layout.mappedKeys);
  auto *entries = reinterpret_cast<int32_t *>(base + layout.entries);
  sorted.sortedKeys = reinterpret_cast<int32_t *>(base + layout.sortedKeys);
  sorted.sortedEntries = reinterpret_cast<int32_t *>(base + layout.sortedEntries);
  if (count == 0)
    return Status::ok();
  sortInputsKernel<<<gridFor(count, 256), 256, 0, stream>>>(keys, count, int32_t(limit),
                                                             mappedKeys, entries);
  DS_RETURN_IF_ERROR(launchCheck(kernel, "sortInputsKernel"));
  size_t cubBytes = layout.cubBytes;
  return cudaCheck(cub::DeviceRadixSort::SortPairs(base + layout.cub, cubBytes, mappedKeys,
                                                   sorted.sortedKeys, entries,
                                                   sorted.sortedEntries, int(count), 0,
                                                   keyBits(limit), stream),
                   kernel, "cub::DeviceRadixSort::SortPairs");
}

Status sortedScatterAdd(const char *kernel, cudaStream_t stream, const ScatterRequest &r) {
  DS_RETURN_IF_ERROR(cudaCheck(cudaMemsetAsync(r.dst->data, 0, r.dst->sizeInBytes(), stream),
                               kernel, "cudaMemsetAsync"));
  if (r.count == 0 || r.width == 0)
    return Status::ok();
  KeySort sorted;
  DS_RETURN_IF_ERROR(sortByKey(kernel, stream, r.keys, r.count, r.dstRows, sorted));
  FloatIn weights = r.weights ? floatIn(*r.weights) : FloatIn{nullptr, false};
  int64_t chunks = (r.width + kChunkColumns - 1) / kChunkColumns;
  if (chunks > 65535)
    return errorf(kernel, ": rows of ", r.width, " columns exceed the scatter's grid");
  dim3 grid(gridFor(r.count * kScatterThreads, kScatterThreads), unsigned(chunks));
  runSumKernel<<<grid, kScatterThreads, 0, stream>>>(
      sorted.sortedKeys, sorted.sortedEntries, r.count, floatIn(*r.src), r.srcStride, weights,
      r.weights != nullptr, floatOut(*r.dst), r.dstRows, r.width);
  return launchCheck(kernel, "runSumKernel");
}

} // namespace ds::rt::cuda
