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
// Memory-bound (one read and one write of x). The double sincos (with its slow argument
// reduction: angles reach thousands of radians) is not: computed per element it made
// rope_partial 7x its memory floor (0.10 ms on v3-mini's query, H100). So each launch
// first fills a table of the FP32 (cos, sin) of every (position, pair), the values the
// CPU's tables hold, and the rotation kernels read it from L2. One thread per pair.
//
// The fused MLA kernels of ds-fuse (layouts in cpu/CpuKernels.h) rotate with the same
// rotatePair: rope_partial(_grad) one thread per element of x (copying the channels
// outside the window), mla_rope_key one per element of the key (the shared rotated key
// recomputed for each head rather than broadcast from memory), mla_rope_key_grad one per
// element of kv_up's gradient plus one per rotated key-gradient element, whose sum over
// the heads runs in double in head order, as expand_grad's does.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
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
  /// [seq, half] of (cos, sin) times the attention factor, rounded to FP32 (ropeTable).
  const float2 *table;
};

/// table[pos * half + i]: the angle pos * inv_freq[i], its cos and sin in double, each times
/// the attention factor and rounded once to FP32 (as the CPU's tables are).
__global__ void ropeTableKernel(RopeParams p, float2 *table) {
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < p.seq * p.half;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t pos = idx / p.half, i = idx - pos * p.half;
    double sinAngle, cosAngle;
    sincos(double(pos) * p.invFreq[i], &sinAngle, &cosAngle);
    table[idx] = make_float2(float(cosAngle * p.attentionFactor),
                             float(sinAngle * p.attentionFactor));
  }
}

/// Offsets of pair i's two channels within one rotated vector.
__device__ __forceinline__ int64_t firstOfPair(const RopeParams &p, int64_t i) {
  return p.interleaved ? 2 * i : i;
}
__device__ __forceinline__ int64_t secondOfPair(const RopeParams &p, int64_t i) {
  return p.interleaved ? 2 * i + 1 : i + p.half;
}

/// The pair index of channel `channel` of a rotated vector, and whether it is the pair's
/// first channel.
__device__ __forceinline__ int64_t pairOf(const RopeParams &p, int64_t channel, bool &first) {
  first = p.interleaved ? channel % 2 == 0 : channel < p.half;
  return p.interleaved ? channel / 2 : channel % p.half;
}

/// Pair i of a vector at position `pos`, (a, b), turned by the position's angle.
__device__ __forceinline__ void rotatePair(const RopeParams &p, int64_t pos, int64_t i, float a,
                                           float b, float &first, float &second) {
  float2 cosSin = p.table[pos * p.half + i];
  float c = cosSin.x, s = p.sign * cosSin.y;
  first = a * c - b * s;
  second = b * c + a * s;
}

__global__ void ropeKernel(FloatIn x, FloatOut y, int64_t pairs, RopeParams p) {
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < pairs;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = idx % p.half;
    int64_t vector = idx / p.half; // (b, pos, h) flattened
    int64_t pos = (vector / p.heads) % p.seq;
    int64_t base = vector * 2 * p.half;
    int64_t first = base + firstOfPair(p, i), second = base + secondOfPair(p, i);
    float rotatedFirst, rotatedSecond;
    rotatePair(p, pos, i, x[first], x[second], rotatedFirst, rotatedSecond);
    y.store(first, rotatedFirst);
    y.store(second, rotatedSecond);
  }
}

/// Element `channel` of the rotated vector starting at x[base], at position `pos`.
__device__ __forceinline__ float rotatedElement(const RopeParams &p, FloatIn x, int64_t base,
                                                int64_t pos, int64_t channel) {
  bool isFirst;
  int64_t i = pairOf(p, channel, isFirst);
  float first, second;
  rotatePair(p, pos, i, x[base + firstOfPair(p, i)], x[base + secondOfPair(p, i)], first,
             second);
  return isFirst ? first : second;
}

/// rope_partial(_grad): x [rows, width] with channels [offset, offset + 2 half) rotated.
__global__ void ropeWindowKernel(FloatIn x, FloatOut y, int64_t n, int64_t width,
                                 int64_t offset, RopeParams p) {
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t channel = idx % width, row = idx / width;
    if (channel < offset || channel >= offset + 2 * p.half) {
      y.store(idx, x[idx]);
      continue;
    }
    int64_t pos = (row / p.heads) % p.seq;
    y.store(idx, rotatedElement(p, x, row * width + offset, pos, channel - offset));
  }
}

/// The shapes of MLA's key: [B, S, H, nope + Dr] from kv_up [.., H, kvUpWidth] and
/// kv_a [B, S, kvAWidth], whose channels [ropeOffset, ropeOffset + Dr) are the shared key.
struct KeyShape {
  int64_t heads, nope, keyWidth, kvUpWidth, kvAWidth, ropeOffset;
};

__global__ void mlaRopeKeyKernel(FloatIn kvUp, FloatIn kvA, FloatOut key, int64_t n,
                                 KeyShape k, RopeParams p) {
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t channel = idx % k.keyWidth, row = idx / k.keyWidth; // row: (b, s, h)
    if (channel < k.nope) {
      key.store(idx, kvUp[row * k.kvUpWidth + channel]);
      continue;
    }
    int64_t token = row / k.heads; // (b, s): one rotated key for all heads
    key.store(idx, rotatedElement(p, kvA, token * k.kvAWidth + k.ropeOffset, token % p.seq,
                                  channel - k.nope));
  }
}

/// The head sum of the rope part of dk, channel `channel` of token `token`, rounded as
/// expand_grad's result was stored: to FP32, and on to BF16 for a BF16 key gradient (the
/// unfused chain's buffers all have the key gradient's element type).
__device__ __forceinline__ float headSum(FloatIn keyGrad, const KeyShape &k, int64_t token,
                                         int64_t channel) {
  double sum = 0.0;
  for (int64_t h = 0; h < k.heads; ++h)
    sum += keyGrad[(token * k.heads + h) * k.keyWidth + k.nope + channel];
  float rounded = float(sum);
  return keyGrad.bf16 ? __bfloat162float(__float2bfloat16_rn(rounded)) : rounded;
}

/// Elements [0, kvUpElements) of the index space are kv_up's gradient (dk's nope part, then
/// dv); the rest are pe_grad [B, S, 1, Dr].
__global__ void mlaRopeKeyGradKernel(FloatIn keyGrad, FloatIn valueGrad, FloatOut kvUpGrad,
                                     FloatOut peGrad, int64_t kvUpElements, int64_t n,
                                     KeyShape k, RopeParams p) {
  int64_t valueWidth = k.kvUpWidth - k.nope, ropeDim = 2 * p.half;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    if (idx < kvUpElements) {
      int64_t channel = idx % k.kvUpWidth, row = idx / k.kvUpWidth;
      kvUpGrad.store(idx, channel < k.nope ? keyGrad[row * k.keyWidth + channel]
                                           : valueGrad[row * valueWidth + channel - k.nope]);
      continue;
    }
    int64_t element = idx - kvUpElements;
    int64_t channel = element % ropeDim, token = element / ropeDim;
    bool isFirst;
    int64_t i = pairOf(p, channel, isFirst);
    float first, second;
    rotatePair(p, token % p.seq, i, headSum(keyGrad, k, token, firstOfPair(p, i)),
               headSum(keyGrad, k, token, secondOfPair(p, i)), first, second);
    peGrad.store(element, isFirst ? first : second);
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

/// RopeParams for rotating vectors of `dim` channels of a [.., seq, heads, dim] tensor.
Status ropeParams(const char *kernel, const KernelAttrs &attrs, int64_t dim, int64_t seq,
                  int64_t heads, float sign, RopeParams &params) {
  if (dim % 2 != 0)
    return errorf(kernel, ": rotary dimension ", dim, " is odd; RoPE turns channel pairs");
  if (dim / 2 > kMaxHalfDim)
    return errorf(kernel, ": rotary dimension ", dim, " exceeds the CUDA kernel's limit of ",
                  2 * kMaxHalfDim);
  params = {};
  DS_RETURN_IF_ERROR(inverseFrequencies(kernel, attrs, dim, params.invFreq));
  params.seq = seq;
  params.heads = heads;
  params.half = dim / 2;
  params.attentionFactor = attrs.getFloat("yarn_attention_factor", 1.0);
  params.interleaved = attrs.getBool("interleaved", false);
  params.sign = sign;
  return Status::ok();
}

/// Fills the (cos, sin) table of `params` in the stream's scratch (ordered before the
/// rotation kernel launched next on the stream) and points params.table at it.
Status ropeTable(const char *kernel, cudaStream_t stream, RopeParams &params) {
  int64_t entries = params.seq * params.half;
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(kernel, stream, std::max<int64_t>(entries, 1) *
                                                       sizeof(float2), scratch));
  params.table = static_cast<const float2 *>(scratch);
  if (entries == 0)
    return Status::ok();
  ropeTableKernel<<<gridFor(entries, kThreads), kThreads, 0, stream>>>(
      params, static_cast<float2 *>(scratch));
  return launchCheck(kernel, "ropeTableKernel");
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
  RopeParams params;
  DS_RETURN_IF_ERROR(
      ropeParams(kernel, call.attrs, input.dim(3), input.dim(1), input.dim(2), sign, params));
  int64_t pairs = input.numElements() / 2;
  if (pairs == 0)
    return Status::ok();
  DS_RETURN_IF_ERROR(ropeTable(kernel, streamOf(call), params));
  ropeKernel<<<gridFor(pairs, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(input), floatOut(call.outputs[0]), pairs, params);
  return launchCheck(kernel, "ropeKernel");
}

Status rotateWindow(KernelCall &call, const char *kernel, float sign) {
  int64_t offset, size;
  DS_RETURN_IF_ERROR(cpu::checkRopeWindow(call, kernel, offset, size));
  const TensorView &x = call.inputs[0];
  int64_t width = x.dim(3);
  RopeParams params;
  DS_RETURN_IF_ERROR(ropeParams(kernel, call.attrs, size, x.dim(1), x.dim(2), sign, params));
  int64_t n = x.numElements();
  if (n == 0)
    return Status::ok();
  DS_RETURN_IF_ERROR(ropeTable(kernel, streamOf(call), params));
  ropeWindowKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(x), floatOut(call.outputs[0]), n, width, offset, params);
  return launchCheck(kernel, "ropeWindowKernel");
}

} // namespace

Status rope(KernelCall &call) { return rotate(call, "rope", "input", "result", 1.0f); }

Status ropeGrad(KernelCall &call) {
  return rotate(call, "rope_grad", "result_grad", "input_grad", -1.0f);
}

Status ropePartial(KernelCall &call) { return rotateWindow(call, "rope_partial", 1.0f); }

Status ropePartialGrad(KernelCall &call) {
  return rotateWindow(call, "rope_partial_grad", -1.0f);
}

Status mlaRopeKey(KernelCall &call) {
  const char *k = "mla_rope_key";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"kv_up", Elem::Float}, {"kv_a", Elem::Float}},
                               {{"key", Elem::Float}}));
  const TensorView &kvUp = call.inputs[0], &kvA = call.inputs[1], &key = call.outputs[0];
  KeyShape shape;
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "nope_dim", shape.nope));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "rope_offset", shape.ropeOffset));
  if (key.rank() != 4 || kvUp.rank() != 4 || kvA.rank() != 3 || shape.nope <= 0 ||
      shape.nope >= key.dim(3))
    return errorf(k, ": expected kv_up [B, S, H, nope + Dv], kv_a [B, S, R + Dr] and key [B, "
                     "S, H, nope + Dr] with 0 < nope_dim < nope + Dr; got ",
                  kvUp.shapeString(), ", ", kvA.shapeString(), ", ", key.shapeString(),
                  " and nope_dim ", shape.nope);
  int64_t batch = key.dim(0), seq = key.dim(1), ropeDim = key.dim(3) - shape.nope;
  shape.heads = key.dim(2);
  shape.keyWidth = key.dim(3);
  shape.kvUpWidth = kvUp.dim(3);
  shape.kvAWidth = kvA.dim(2);
  if (kvUp.dim(0) != batch || kvUp.dim(1) != seq || kvUp.dim(2) != shape.heads ||
      shape.kvUpWidth < shape.nope || kvA.dim(0) != batch || kvA.dim(1) != seq ||
      shape.ropeOffset < 0 || shape.ropeOffset + ropeDim > shape.kvAWidth)
    return errorf(k, ": kv_up ", kvUp.shapeString(), " and kv_a ", kvA.shapeString(),
                  " do not hold the key ", key.shapeString(), " with nope_dim ", shape.nope,
                  " and rope_offset ", shape.ropeOffset);
  RopeParams params;
  DS_RETURN_IF_ERROR(ropeParams(k, call.attrs, ropeDim, seq, 1, 1.0f, params));
  int64_t n = key.numElements();
  if (n == 0)
    return Status::ok();
  DS_RETURN_IF_ERROR(ropeTable(k, streamOf(call), params));
  mlaRopeKeyKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(kvUp), floatIn(kvA), floatOut(key), n, shape, params);
  return launchCheck(k, "mlaRopeKeyKernel");
}

Status mlaRopeKeyGrad(KernelCall &call) {
  const char *k = "mla_rope_key_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"key_grad", Elem::Float}, {"value_grad", Elem::Float}},
                               {{"kv_up_grad", Elem::Float}, {"pe_grad", Elem::Float}}));
  const TensorView &keyGrad = call.inputs[0], &valueGrad = call.inputs[1];
  KeyShape shape;
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "nope_dim", shape.nope));
  if (keyGrad.rank() != 4 || shape.nope <= 0 || shape.nope >= keyGrad.dim(3))
    return errorf(k, ": expected key_grad [B, S, H, nope + Dr] with 0 < nope_dim < nope + Dr; "
                     "got ",
                  keyGrad.shapeString(), " and nope_dim ", shape.nope);
  int64_t batch = keyGrad.dim(0), seq = keyGrad.dim(1), ropeDim = keyGrad.dim(3) - shape.nope;
  shape.heads = keyGrad.dim(2);
  shape.keyWidth = keyGrad.dim(3);
  if (valueGrad.rank() != 4)
    return errorf(k, ": value_grad has shape ", valueGrad.shapeString(),
                  ", expected [B, S, H, Dv]");
  shape.kvUpWidth = shape.nope + valueGrad.dim(3);
  DS_RETURN_IF_ERROR(
      expectShape(k, "value_grad", valueGrad, {batch, seq, shape.heads, valueGrad.dim(3)}));
  DS_RETURN_IF_ERROR(expectShape(k, "kv_up_grad", call.outputs[0],
                                 {batch, seq, shape.heads, shape.kvUpWidth}));
  DS_RETURN_IF_ERROR(expectShape(k, "pe_grad", call.outputs[1], {batch, seq, 1, ropeDim}));
  RopeParams params;
  DS_RETURN_IF_ERROR(ropeParams(k, call.attrs, ropeDim, seq, 1, -1.0f, params));
  int64_t kvUpElements = call.outputs[0].numElements();
  int64_t n = kvUpElements + call.outputs[1].numElements();
  if (n == 0)
    return Status::ok();
  DS_RETURN_IF_ERROR(ropeTable(k, streamOf(call), params));
  mlaRopeKeyGradKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(keyGrad), floatIn(valueGrad), floatOut(call.outputs[0]),
      floatOut(call.outputs[1]), kvUpElements, n, shape, params);
  return launchCheck(k, "mlaRopeKeyGradKernel");
}

} // namespace ds::rt::cuda
