//===- Quantize.cu - the FP8 round trip of the V3 recipe ------------------===//
//
// quantize_dequantize (ds-fuse's fusion of ds.quantize -> ds.dequantize with FP32 scales):
// per [bm, bk] block of the last two dims, scale = amax / 448 (1 for a block of zeros),
// each value rounded to E4M3 (nearest even, saturating: __NV_SATFINITE, as the CPU's
// floatToE4m3 and DeepGEMM do) after x / scale, and multiplied back by the scale: the
// operand a recipe GEMM reads. Same operations in the same FP32 order as the CPU's
// quantize then dequantize (cpu/Quantize.cpp), so the results agree bit for bit.
//
// One thread block per scale block: the block's amax is a reduction, then every element
// is converted. Roofline: one read for the amax and one read and write for the values
// (the second read mostly from L2): ~12 bytes per FP32 element, so at 3.35 TB/s a
// [8192, 1024] activation takes about 30 us.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace ds::rt::cuda {
namespace {

constexpr float kE4m3Max = 448.0f;
constexpr int kThreads = 256;

struct Blocking {
  int64_t rows, cols, blockRows, blockCols, rowBlocks, colBlocks;
};

__device__ __forceinline__ float e4m3RoundTrip(float x, float scale) {
  __nv_fp8_storage_t bits = __nv_cvt_float_to_fp8(x / scale, __NV_SATFINITE, __NV_E4M3);
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(bits, __NV_E4M3))) * scale;
}

/// Block (matrix b, block row br, block column bc) = blockIdx.x in that order.
__global__ void quantizeDequantizeKernel(FloatIn input, FloatOut result, Blocking g) {
  int64_t block = blockIdx.x;
  int64_t bc = block % g.colBlocks, br = (block / g.colBlocks) % g.rowBlocks;
  int64_t matrix = block / (g.colBlocks * g.rowBlocks);
  int64_t r0 = br * g.blockRows, c0 = bc * g.blockCols;
  int64_t height = min(g.blockRows, g.rows - r0), width = min(g.blockCols, g.cols - c0);
  int64_t base = matrix * g.rows * g.cols + r0 * g.cols + c0;
  int64_t count = height * width;
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    amax = fmaxf(amax, fabsf(input[base + (i / width) * g.cols + i % width]));
  amax = blockMax(amax);
  float scale = amax == 0.0f ? 1.0f : amax / kE4m3Max;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    int64_t at = base + (i / width) * g.cols + i % width;
    result.store(at, e4m3RoundTrip(input[at], scale));
  }
}

} // namespace

Status quantizeDequantize(KernelCall &call) {
  const char *k = "quantize_dequantize";
  std::vector<int64_t> block;
  DS_RETURN_IF_ERROR(cpu::checkQuantizeDequantize(call, block));
  const TensorView &input = call.inputs[0];
  Blocking g;
  g.rows = input.dim(-2);
  g.cols = input.dim(-1);
  g.blockRows = block[0];
  g.blockCols = block[1];
  g.rowBlocks = (g.rows + g.blockRows - 1) / g.blockRows;
  g.colBlocks = (g.cols + g.blockCols - 1) / g.blockCols;
  int64_t blocks = product(input.shape, 0, input.rank() - 2) * g.rowBlocks * g.colBlocks;
  if (blocks == 0)
    return Status::ok();
  if (blocks > INT32_MAX)
    return errorf(k, ": ", blocks, " scale blocks exceed one launch's grid");
  quantizeDequantizeKernel<<<unsigned(blocks), kThreads, 0, streamOf(call)>>>(
      floatIn(input), floatOut(call.outputs[0]), g);
  return launchCheck(k, "quantizeDequantizeKernel");
}

} // namespace ds::rt::cuda
