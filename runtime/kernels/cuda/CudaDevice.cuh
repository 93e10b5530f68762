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

/// The elements FloatIn::load8 and FloatOut::store8 move in one 16-byte access of BF16 (or
/// two of F32).
constexpr int kVectorWidth = 8;

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
  /// Elements i..i+7 with 16-byte loads: i a multiple of 8 and data 16-byte aligned
  /// (isVectorAligned); the values are those operator[] reads.
  __device__ __forceinline__ void load8(int64_t i, float out[8]) const {
    if (bf16) {
      uint4 packed = *reinterpret_cast<const uint4 *>(static_cast<const uint16_t *>(data) + i);
      const uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        out[2 * k] = __uint_as_float(words[k] << 16);
        out[2 * k + 1] = __uint_as_float(words[k] & 0xffff0000u);
      }
      return;
    }
    const float4 *at = reinterpret_cast<const float4 *>(static_cast<const float *>(data) + i);
    float4 low = at[0], high = at[1];
    out[0] = low.x, out[1] = low.y, out[2] = low.z, out[3] = low.w;
    out[4] = high.x, out[5] = high.y, out[6] = high.z, out[7] = high.w;
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
  /// Elements i..i+7 with 16-byte stores, rounded as store() rounds (same alignment rule as
  /// FloatIn::load8).
  __device__ __forceinline__ void store8(int64_t i, const float value[8]) const {
    if (bf16) {
      uint32_t words[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        __nv_bfloat162 pair = __floats2bfloat162_rn(value[2 * k], value[2 * k + 1]);
        words[k] = *reinterpret_cast<uint32_t *>(&pair);
      }
      *reinterpret_cast<uint4 *>(static_cast<__nv_bfloat16 *>(data) + i) =
          make_uint4(words[0], words[1], words[2], words[3]);
      return;
    }
    float4 *at = reinterpret_cast<float4 *>(static_cast<float *>(data) + i);
    at[0] = make_float4(value[0], value[1], value[2], value[3]);
    at[1] = make_float4(value[4], value[5], value[6], value[7]);
  }
  __device__ __forceinline__ FloatIn in() const { return FloatIn{data, bf16}; }
};

/// Whether load8/store8 may read or write this tensor: 16-byte aligned data.
inline bool isVectorAligned(const void *data) {
  return reinterpret_cast<uintptr_t>(data) % 16 == 0;
}

/// A strided pass over elements [0, n) by thread `first` of `stride` threads: with
/// `vector`, group(i) for each i = 0, 8, 16, ... that starts a whole group of kVectorWidth
/// (one group per thread per turn, for load8/store8), then one(i) for each of the last
/// n % kVectorWidth; without, one(i) for every element.
template <typename Group, typename One>
__device__ __forceinline__ void forEachElement(int64_t n, bool vector, int64_t first,
                                               int64_t stride, Group group, One one) {
  int64_t done = 0;
  if (vector) {
    int64_t groups = n / kVectorWidth;
    for (int64_t g = first; g < groups; g += stride)
      group(g * kVectorWidth);
    done = groups * kVectorWidth;
  }
  for (int64_t i = done + first; i < n; i += stride)
    one(i);
}

/// The same over the whole grid (a grid-stride pass); launch
/// gridFor(elementThreads(n, vector), ...) threads.
template <typename Group, typename One>
__device__ __forceinline__ void forEachElement(int64_t n, bool vector, Group group, One one) {
  forEachElement(n, vector, int64_t(blockIdx.x) * blockDim.x + threadIdx.x,
                 int64_t(gridDim.x) * blockDim.x, group, one);
}

/// The threads forEachElement wants: one per group of kVectorWidth with `vector`, else one
/// per element.
inline int64_t elementThreads(int64_t n, bool vector) {
  return vector ? (n + kVectorWidth - 1) / kVectorWidth : n;
}

inline FloatIn floatIn(const TensorView &t) { return FloatIn{t.data, t.dtype == DType::BF16}; }
inline FloatOut floatOut(const TensorView &t) {
  return FloatOut{t.data, t.dtype == DType::BF16};
}

constexpr unsigned kFullMask = 0xffffffffu;

/// Inclusive prefix sums over the warp's lanes of two values at once (lane l ends with
/// the sums over lanes 0..l); every lane must call it.
__device__ __forceinline__ void warpInclusiveScan(int64_t &a, int64_t &b, int lane) {
  for (int offset = 1; offset < 32; offset <<= 1) {
    int64_t fromA = __shfl_up_sync(kFullMask, a, offset);
    int64_t fromB = __shfl_up_sync(kFullMask, b, offset);
    if (lane >= offset) {
      a += fromA;
      b += fromB;
    }
  }
}

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
