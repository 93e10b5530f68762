//===- Rope.cu - ds.rope and ds.rope_grad ---------------------------------===//
//
// Rotary position embedding of x [B, S, H, Dr] at positions 0..S-1, with the CPU
// reference's conventions (cpu/Rope.cpp): inverse frequencies theta^(-2i/Dr), YaRN-corrected
// when yarn_factor > 1 (computed on the host in double, the same code path as the CPU's, and
// passed by value), pairs (2i, 2i+1) when interleaved else (i, i + Dr/2), the result times
// yarn_attention_factor. Each angle pos * inv_freq and its cos/sin are computed in double
// and rounded once to FP32, as the CPU's tables are, so both backends rotate by the same
// FP32 cos/sin; at position 4K an FP32 angle would already be off by ~2e-4 rad.
//
// Memory-bound (one read and one write of x); the double sincos is ~40 FP64 operations per
// pair, under the FP64 rate at these sizes. One thread per pair.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <algorithm>
#include <cmath>

namespace ds::rt::cuda {
namespace {

constexpr int kMaxHalfDim = 128;
constexpr int kThreads = 256;

struct RopeParams {
  double invFreq[kMaxHalfDim];
  int64_t seq, heads, half;
  double attentionFactor;
  bool interleaved;
  float sign; // +1 rotates forward, -1 applies the transposed rotation (the gradient)
};

__global__ void ropeKernel(FloatIn x, FloatOut y, int64_t pairs, RopeParams p) {
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < pairs;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = idx % p.half;
    int64_t vector = idx / p.half; // (b, pos, h) flattened
    int64_t pos = (vector / p.heads) % p.seq;
    double angle = double(pos) * p.invFreq[i];
    double sinAngle, cosAngle;
    sincos(angle, &sinAngle, &cosAngle);
    float c = float(cosAngle * p.attentionFactor);
    float s = p.sign * float(sinAngle * p.attentionFactor);
    int64_t base = vector * 2 * p.half;
    int64_t first = base + (p.interleaved ? 2 * i : i);
    int64_t second = base + (p.interleaved ? 2 * i + 1 : i + p.half);
    float a = x[first], b = x[second];
    y.store(first, a * c - b * s);
    y.store(second, b * c + a * s);
  }
}

/// HF find_correction_dim (see cpu/Rope.cpp).
double correctionDim(double rotations, int64_t dim, double base, double maxPosition) {
  return dim * std::log(maxPosition / (rotations * 2.0 * M_PI)) / (2.0 * std::log(base));
}

Status inverseFrequencies(const char *kernel, const KernelAttrs &attrs, int64_t dim,
                          double *invFreq) {
  double theta;
  DS_RETURN_IF_ERROR(requireFloat(attrs, kernel, "theta", theta));
  if (!(theta > 1.0))
    return errorf(kernel, ": theta must be > 1, got ", theta);
  int64_t half = dim / 2;
  for (int64_t i = 0; i < half; ++i)
    invFreq[i] = std::pow(theta, -2.0 * i / dim);
  double factor = attrs.getFloat("yarn_factor", 1.0);
  if (factor <= 1.0)
    return Status::ok();
  int64_t originalMax = attrs.getInt("yarn_original_max_position", 0);
  if (originalMax <= 0)
    return errorf(kernel, ": yarn_factor ", factor,
                  " needs yarn_original_max_position > 0, got ", originalMax);
  double betaFast = attrs.getFloat("yarn_beta_fast", 32.0);
  double betaSlow = attrs.getFloat("yarn_beta_slow", 1.0);
  double low = std::max(std::floor(correctionDim(betaFast, dim, theta, originalMax)), 0.0);
  double high = std::min(std::ceil(correctionDim(betaSlow, dim, theta, originalMax)),
                         static_cast<double>(dim - 1));
  if (low == high)
    high += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    double extrapolation = 1.0 - ramp;
    invFreq[i] = invFreq[i] / factor * (1.0 - extrapolation) + invFreq[i] * extrapolation;
  }
  return Status::ok();
}

Status rotate(KernelCall &call, const char *kernel, const char *inputName,
              const char *outputName, float sign) {
  DS_RETURN_IF_ERROR(
      checkCall(call, kernel, {{inputName, Elem::Float}}, {{outputName, Elem::Float}}));
  const TensorView &input = call.inputs[0];
  if (input.rank() != 4 || input.dim(3) % 2 != 0)
    return errorf(kernel, ": ", inputName, " has shape ", input.shapeString(),
                  ", expected [B, S, H, Dr] with Dr even");
  DS_RETURN_IF_ERROR(expectShape(kernel, outputName, call.outputs[0], input.shape));
  int64_t dim = input.dim(3);
  if (dim / 2 > kMaxHalfDim)
    return errorf(kernel, ": rotary dimension ", dim, " exceeds the CUDA kernel's limit of ",
                  2 * kMaxHalfDim);
  RopeParams params = {};
  DS_RETURN_IF_ERROR(inverseFrequencies(kernel, call.attrs, dim, params.invFreq));
  params.seq = input.dim(1);
  params.heads = input.dim(2);
  params.half = dim / 2;
  params.attentionFactor = call.attrs.getFloat("yarn_attention_factor", 1.0);
  params.interleaved = call.attrs.getBool("interleaved", false);
  params.sign = sign;
  int64_t pairs = input.numElements() / 2;
  if (pairs == 0)
    return Status::ok();
  ropeKernel<<<gridFor(pairs, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(input), floatOut(call.outputs[0]), pairs, params);
  return launchCheck(kernel, "ropeKernel");
}

} // namespace

Status rope(KernelCall &call) { return rotate(call, "rope", "input", "result", 1.0f); }

Status ropeGrad(KernelCall &call) {
  return rotate(call, "rope_grad", "result_grad", "input_grad", -1.0f);
}

} // namespace ds::rt::cuda
