//===- CudaDevice.cuh - device-side helpers shared by the CUDA kernels ----===//
//
// Every kernel computes in FP32 whatever the storage dtype (F32 or BF16) of its float
// operands, like the CPU reference. FloatIn/FloatOut carry a pointer and its dtype into a
// kernel; the dtype branch is uniform across a launch, so it costs no divergence, and one
// kernel body serves every dtype combination instead of a template per combination. BF16
// stores round to nearest even (__float2bfloat16_rn), as the CPU's floatToBf16 does.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CUDA_CUDADEVICE_CUH
#define DS_RUNTIME_KERNELS_CUDA_CUDADEVICE_CUH

#include "runtime/core/Tensor.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace ds::rt::cuda {

struct FloatIn {
  const void *data;
  bool bf16;

  __device__ __forceinline__ float operator[](int64_t i) const {
    if (bf16) {
      uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t *>(data)[i]) << 16;
      return __uint_as_float(bits);
    }
    return static_cast<const float *>(data)[i];
  }
};

struct FloatOut {
  void *data;
  bool bf16;

  __device__ __forceinline__ void store(int64_t i, float value) const {
    if (bf16)
      static_cast<__nv_bfloat16 *>(data)[i] = __float2bfloat16_rn(value);
    else
      static_cast<float *>(data)[i] = value;
  }
  __device__ __forceinline__ FloatIn in() const { return FloatIn{data, bf16}; }
};

inline FloatIn floatIn(const TensorView &t) { return FloatIn{t.data, t.dtype == DType::BF16}; }
inline FloatOut floatOut(const TensorView &t) {
  return FloatOut{t.data, t.dtype == DType::BF16};
}

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ double warpSum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ float warpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
/// result. The tree has a fixed shape, so the sum is reproducible run to run.
template <typename T> __device__ T blockSum(T v) {
  __shared__ T partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpSum(v);
  __syncthreads(); // partial may still be read by a previous call
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  T total = lane < warps ? partial[lane] : T(0);
  return warpSum(total);
}

__device__ __forceinline__ float blockMax(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpMax(v);
  __syncthreads();
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  float total = lane < warps ? partial[lane] : -INFINITY;
  return warpMax(total);
}

} // namespace ds::rt::cuda

#endif
