//===- CudaSupport.h - errors, streams and scratch memory of CUDA kernels -===//
//
// Host-side helpers shared by every CUDA kernel: CUDA errors become Status values naming
// the kernel and the call, and each (device, stream) pair owns a grow-only scratch buffer
// for the intermediates a kernel keeps between its launches (row statistics, partial sums,
// sort buffers). Scratch is per stream because two streams may run kernels at once; it is
// only ever reallocated after synchronizing its stream, so earlier launches still in flight
// never see it freed. The first call of a size allocates: run a step once before capturing
// it into a CUDA graph.
//
// Argument checks reuse the CPU kernels' (cpu/CpuSupport.h): they read shapes, dtypes and
// attributes only, never tensor memory, so they apply to device tensors unchanged.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_CUDASUPPORT_H
#define DS_RUNTIME_KERNELS_CUDA_CUDASUPPORT_H

#include "runtime/kernels/Kernel.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <cuda_runtime.h>

#include <cstddef>

namespace ds::rt::cuda {

using cpu::checkCall;
using cpu::Elem;
using cpu::expectElements;
using cpu::expectMatrix;
using cpu::expectMinRank;
using cpu::expectShape;
using cpu::product;
using cpu::requireFloat;
using cpu::requireInt;
using cpu::requireString;

/// Ok for cudaSuccess, otherwise "<kernel>: <what> failed: <CUDA error string>".
Status cudaCheck(cudaError_t error, const char *kernel, const char *what);
/// The launch error of the kernel just launched (cudaGetLastError).
Status launchCheck(const char *kernel, const char *what);

inline cudaStream_t streamOf(const KernelCall &call) {
  return static_cast<cudaStream_t>(call.stream);
}

/// At least `bytes` of device scratch memory private to `stream` on the current device,
/// valid until the next scratch request on that stream. `bytes` 0 yields a non-null buffer.
Status streamScratch(const char *kernel, cudaStream_t stream, size_t bytes, void *&buffer);

/// Splits one scratch allocation into 256-byte aligned pieces.
class ScratchCarver {
public:
  /// Reserves `bytes` (rounded up to 256) and returns its offset.
  size_t reserve(size_t bytes) {
    size_t offset = total_;
    total_ += (bytes + 255) / 256 * 256;
    return offset;
  }
  size_t total() const { return total_; }

private:
  size_t total_ = 0;
};

/// Integer ceil(a / b) for positive b.
inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Grid size for a grid-stride loop over `n` elements: enough blocks to fill the device,
/// never more than the elements need.
unsigned gridFor(int64_t n, int threadsPerBlock);

} // namespace ds::rt::cuda

#endif
