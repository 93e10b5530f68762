//===- SortedScatter.h - deterministic scatter-add by sorting keys --------===//
//
// dst[keys[i]] += weight(i) * src[i / srcStride] for every entry i, with every dst row
// zeroed first. A row many entries hit is summed in ascending entry order, bit for bit the
// same every run and the same order as the CPU reference's loop; FP32 atomics would add in
// an order that changes run to run (and BF16 atomics would also round at every add).
// The entries are radix-sorted by key (CUB's sort is stable, so entries stay ascending
// within a key), then the first entry of each run of equal keys sums the run.
//
// Used by ds.embedding_grad (keys = token ids, stride 1) and ds.combine_grad (keys =
// positions, one entry per (token, slot), stride K, weighted). Keys outside [0, dstRows)
// are skipped (the kernels that call this cannot report them without a host sync).
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_SORTEDSCATTER_H
#define DS_RUNTIME_KERNELS_CUDA_SORTEDSCATTER_H

#include "runtime/core/Status.h"
#include "runtime/core/Tensor.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace ds::rt::cuda {

struct ScatterRequest {
  const int32_t *keys;    // [count]
  int64_t count;          // entries
  const TensorView *src;  // [count / srcStride, width]
  int64_t srcStride;      // entry i reads src row i / srcStride
  const TensorView *weights; // [count] or nullptr for weight 1
  const TensorView *dst;  // [dstRows, width], fully overwritten
  int64_t dstRows, width;
};

Status sortedScatterAdd(const char *kernel, cudaStream_t stream, const ScatterRequest &r);

/// A stable radix sort of entries 0..count-1 by keys[entry], for keys that are valid in
/// [0, limit): a key outside is sorted as `limit` (after every valid key), and only the
/// bits that `limit` needs are sorted (v3-mini's 64 experts: 7 bits, one pass of CUB's
/// onesweep sort instead of four). ds.dispatch sorts its (token, slot) pairs by expert with
/// it, sortedScatterAdd its entries by destination row.
struct KeySort {
  int32_t *sortedKeys;    // [count], ascending; `limit` for every invalid key
  int32_t *sortedEntries; // [count], entry indices, ascending within a key
};

/// Sorts in the stream's scratch (streamScratch), ordered on `stream`: the sorted arrays
/// stay valid until the next launch on the stream that takes scratch.
Status sortByKey(const char *kernel, cudaStream_t stream, const int32_t *keys, int64_t count,
                 int64_t limit, KeySort &sorted);

} // namespace ds::rt::cuda

#endif
