#include "runtime/kernels/cuda/CudaSupport.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

namespace ds::rt::cuda {

Status cudaCheck(cudaError_t error, const char *kernel, const char *what) {
  if (error == cudaSuccess)
    return Status::ok();
  return errorf(kernel, ": ", what, " failed: ", cudaGetErrorName(error), " (",
                cudaGetErrorString(error), ")");
}

Status launchCheck(const char *kernel, const char *what) {
  return cudaCheck(cudaGetLastError(), kernel, what);
}

namespace {

struct Scratch {
  void *data = nullptr;
  size_t bytes = 0;
};

struct ScratchTable {
  std::mutex mutex;
  std::map<std::pair<int, cudaStream_t>, Scratch> buffers;
};

ScratchTable &scratchTable() {
  // Never destroyed: buffers live until the process ends, and a destructor running after
  // the CUDA context is torn down at exit would fail.
  static ScratchTable *table = new ScratchTable;
  return *table;
}

} // namespace

Status streamScratch(const char *kernel, cudaStream_t stream, size_t bytes, void *&buffer) {
  int device = 0;
  DS_RETURN_IF_ERROR(cudaCheck(cudaGetDevice(&device), kernel, "cudaGetDevice"));
  ScratchTable &table = scratchTable();
  std::lock_guard<std::mutex> lock(table.mutex);
  Scratch &scratch = table.buffers[{device, stream}];
  bytes = std::max<size_t>(bytes, 256);
  if (scratch.bytes < bytes) {
    // Launches already queued on this stream may still read the old buffer.
    DS_RETURN_IF_ERROR(cudaCheck(cudaStreamSynchronize(stream), kernel,
                                 "cudaStreamSynchronize before growing scratch"));
    if (scratch.data)
      DS_RETURN_IF_ERROR(cudaCheck(cudaFree(scratch.data), kernel, "cudaFree(scratch)"));
    scratch = Scratch();
    size_t grown = std::max(bytes, size_t(1) << 20);
    DS_RETURN_IF_ERROR(cudaCheck(cudaMalloc(&scratch.data, grown), kernel, "cudaMalloc(scratch)"));
    scratch.bytes = grown;
  }
  buffer = scratch.data;
  return Status::ok();
}

unsigned gridFor(int64_t n, int threadsPerBlock) {
  // 132 SMs x 16 resident blocks covers an H100; a grid-stride loop handles the rest.
  constexpr int64_t kMaxBlocks = 132 * 16;
  int64_t blocks = std::min(ceilDiv(std::max<int64_t>(n, 1), threadsPerBlock), kMaxBlocks);
  return static_cast<unsigned>(blocks);
}

} // namespace ds::rt::cuda
