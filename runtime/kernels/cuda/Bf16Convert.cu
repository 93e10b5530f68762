#include "runtime/kernels/cuda/Bf16Convert.h"

#include "runtime/kernels/cuda/CudaSupport.h"

#include <cuda_bf16.h>

namespace ds::rt::cuda {
namespace {

// Four elements per thread when both pointers allow 16/8-byte accesses; a grid-stride
// loop so that any count takes one launch.
__global__ void convertVectorized(const float4 *src, uint2 *dst, int64_t quads) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < quads;
       i += int64_t(gridDim.x) * blockDim.x) {
    float4 v = src[i];
    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
    __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 packed;
    packed.x = *reinterpret_cast<uint32_t *>(&lo);
    packed.y = *reinterpret_cast<uint32_t *>(&hi);
    dst[i] = packed;
  }
}

__global__ void convertScalar(const float *src, __nv_bfloat16 *dst, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}

int blocksFor(int64_t work) {
  constexpr int64_t kMaxBlocks = 4096;
  return int(std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (work + 255) / 256)));
}

} // namespace

Status convertToBf16(const char *kernel, const float *src, uint16_t *dst, int64_t count,
                     cudaStream_t stream) {
  if (count == 0)
    return Status::ok();
  bool aligned = reinterpret_cast<uintptr_t>(src) % 16 == 0 &&
                 reinterpret_cast<uintptr_t>(dst) % 8 == 0;
  int64_t quads = aligned ? count / 4 : 0;
  if (quads > 0)
    convertVectorized<<<blocksFor(quads), 256, 0, stream>>>(
        reinterpret_cast<const float4 *>(src), reinterpret_cast<uint2 *>(dst), quads);
  int64_t tail = count - 4 * quads;
  if (tail > 0)
    convertScalar<<<blocksFor(tail), 256, 0, stream>>>(
        src + 4 * quads, reinterpret_cast<__nv_bfloat16 *>(dst) + 4 * quads, tail);
  return cudaCheck(cudaGetLastError(), kernel, "BF16 operand conversion launch");
}

} // namespace ds::rt::cuda
