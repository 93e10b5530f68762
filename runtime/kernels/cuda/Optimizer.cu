//===- Optimizer.cu - ds.grad_norm and ds.adamw ---------------------------===//
//
// grad_norm: the global L2 norm over every gradient, squares summed in double as the CPU
// does. Deterministic two-stage reduction: each gradient is cut into a fixed number of
// block slices (a function of its size only, not of the device), each block writes one
// partial sum to scratch, and a single block adds the partials with a fixed tree. No
// atomics, so the norm (and every clipped update after it) is bit-reproducible.
//
// adamw: AdamW as cpu/Optimizer.cpp computes it (torch's clip coefficient folded into the
// gradient, bias corrections at the 1-based step). lr, step and grad_norm are device
// scalars, so the step never waits on the host and can be captured in a CUDA graph: one
// thread turns them into the FP32 coefficients (in double, rounded once, like the CPU),
// then the elementwise pass reads them. Memory-bound: 4 reads and 3 writes per element.
// A step < 1 cannot be reported without a host sync; its coefficients are NaN, which
// poisons the parameters visibly rather than silently training with a wrong correction.
//
// adamw_multi (ds-fuse) updates many tensors with one coefficient launch and one
// elementwise launch per batch of up to kMaxTensorsPerBatch tensors, passed by value (no
// table to upload, nothing that a CUDA graph could not capture): each tensor gets its own
// run of blocks, and every element is updated by the same adamwThread as adamw's.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <algorithm>
#include <vector>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 256;
// Enough blocks, each thread with kSquaresUnroll loads in flight, to keep HBM busy on a
// large gradient (at 256 blocks and one load per thread, a 64M-element expert gradient ran
// at ~40% of the bandwidth).
constexpr int64_t kMaxBlocksPerTensor = 2048;
constexpr int kSquaresUnroll = 4;

__global__ void sumSquaresKernel(FloatIn grad, int64_t n, bool vector, double *partial) {
  double sum = 0.0;
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vector) {
    // Groups of 8 elements with one or two 16-byte loads each (scalar BF16 loads left the
    // norm at ~40% of HBM bandwidth), then the last n % 8 elements one by one.
    int64_t groups = n / kVectorWidth;
    for (int64_t group = i; group < groups; group += stride) {
      float v[kVectorWidth];
      grad.load8(group * kVectorWidth, v);
#pragma unroll
      for (int u = 0; u < kVectorWidth; ++u)
        sum += double(v[u]) * double(v[u]);
    }
    i = groups * kVectorWidth + i;
  }
  for (; i + (kSquaresUnroll - 1) * stride < n; i += kSquaresUnroll * stride) {
    float v[kSquaresUnroll];
#pragma unroll
    for (int u = 0; u < kSquaresUnroll; ++u)
      v[u] = grad[i + u * stride];
#pragma unroll
    for (int u = 0; u < kSquaresUnroll; ++u)
      sum += double(v[u]) * double(v[u]);
  }
  for (; i < n; i += stride) {
    double v = grad[i];
    sum += v * v;
  }
  sum = blockSum(sum);
  if (threadIdx.x == 0)
    partial[blockIdx.x] = sum;
}

__global__ void finishNormKernel(const double *partial, int64_t count, FloatOut result) {
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    sum += partial[i];
  sum = blockSum(sum);
  if (threadIdx.x == 0)
    result.store(0, float(sqrt(sum)));
}

struct AdamwAttrs {
  double beta1, beta2, epsilon, weightDecay, maxGradNorm;
};

struct AdamwCoefficients {
  float gradScale, b1, oneMinusB1, b2, oneMinusB2, invCorrection1, invCorrection2, lr, eps,
      decay;
};

__global__ void adamwCoefficientsKernel(FloatIn lrIn, FloatIn stepIn, FloatIn normIn,
                                        AdamwAttrs a, AdamwCoefficients *out) {
  double lr = lrIn[0], step = stepIn[0], norm = normIn[0];
  double clip = 1.0;
  if (a.maxGradNorm > 0.0)
    clip = fmin(1.0, a.maxGradNorm / (norm + 1e-6));
  bool validStep = step >= 1.0 && isfinite(step);
  AdamwCoefficients c;
  c.gradScale = float(clip);
  c.b1 = float(a.beta1);
  c.oneMinusB1 = float(1.0 - a.beta1);
  c.b2 = float(a.beta2);
  c.oneMinusB2 = float(1.0 - a.beta2);
  c.invCorrection1 = validStep ? float(1.0 / (1.0 - pow(a.beta1, step))) : NAN;
  c.invCorrection2 = validStep ? float(1.0 / (1.0 - pow(a.beta2, step))) : NAN;
  c.lr = float(lr);
  c.eps = float(a.epsilon);
  c.decay = float(a.weightDecay);
  *out = c;
}

/// One tensor's operands, in adamw's order. `vector`: every operand 16-byte aligned, so
/// whole groups of kVectorWidth elements move with 16-byte loads and stores (a scalar BF16 load
/// moves 2 bytes per instruction and left AdamW at ~60% of HBM bandwidth).
struct AdamwTensor {
  FloatIn param, grad, expAvg, expAvgSq;
  FloatOut newParam, newExpAvg, newExpAvgSq;
  int64_t n;
  bool vector;
};

/// One element's operands, read before any of a batch is written (the update is in place:
/// param and newParam may be one buffer, so the compiler cannot hoist later loads itself).
struct AdamwOperands {
  float param, grad, expAvg, expAvgSq;
};

__device__ __forceinline__ AdamwOperands loadAdamw(const AdamwTensor &t, int64_t i) {
  return {t.param[i], t.grad[i], t.expAvg[i], t.expAvgSq[i]};
}

/// One element's update: the new moments m, v and the new parameter p (the one formula of
/// both the scalar and the vector path).
__device__ __forceinline__ void adamwElement(const AdamwOperands &in,
                                             const AdamwCoefficients &c, float &p, float &m,
                                             float &v) {
  float g = in.grad * c.gradScale;
  m = c.b1 * in.expAvg + c.oneMinusB1 * g;
  v = c.b2 * in.expAvgSq + c.oneMinusB2 * g * g;
  float update = (m * c.invCorrection1) / (sqrtf(v * c.invCorrection2) + c.eps);
  p = in.param - c.lr * (update + c.decay * in.param);
}

__device__ __forceinline__ void updateAdamw(const AdamwTensor &t, int64_t i,
                                            const AdamwOperands &in,
                                            const AdamwCoefficients &c) {
  float p, m, v;
  adamwElement(in, c, p, m, v);
  t.newExpAvg.store(i, m);
  t.newExpAvgSq.store(i, v);
  t.newParam.store(i, p);
}

/// Groups first, first + stride, ... of kVectorWidth elements, then the last few elements
/// one by one. A group is read whole before any of it is written (in place).
__device__ __forceinline__ void adamwVectorStrided(const AdamwTensor &t, int64_t first,
                                                   int64_t stride,
                                                   const AdamwCoefficients &c) {
  forEachElement(
      t.n, true, first, stride,
      [&](int64_t i) {
        float param[kVectorWidth], grad[kVectorWidth], expAvg[kVectorWidth],
            expAvgSq[kVectorWidth];
        t.param.load8(i, param);
        t.grad.load8(i, grad);
        t.expAvg.load8(i, expAvg);
        t.expAvgSq.load8(i, expAvgSq);
        float p[kVectorWidth], m[kVectorWidth], v[kVectorWidth];
#pragma unroll
        for (int u = 0; u < kVectorWidth; ++u)
          adamwElement({param[u], grad[u], expAvg[u], expAvgSq[u]}, c, p[u], m[u], v[u]);
        t.newExpAvg.store8(i, m);
        t.newExpAvgSq.store8(i, v);
        t.newParam.store8(i, p);
      },
      [&](int64_t i) { updateAdamw(t, i, loadAdamw(t, i), c); });
}

/// Elements first, first + stride, ... of t: kAdamwInFlight elements' loads are issued
/// before their updates, so a thread waits on memory once per batch.
constexpr int kAdamwInFlight = 4;

__device__ __forceinline__ void adamwStrided(const AdamwTensor &t, int64_t first,
                                             int64_t stride, const AdamwCoefficients &c) {
  int64_t i = first;
  for (; i + (kAdamwInFlight - 1) * stride < t.n; i += kAdamwInFlight * stride) {
    AdamwOperands in[kAdamwInFlight];
#pragma unroll
    for (int u = 0; u < kAdamwInFlight; ++u)
      in[u] = loadAdamw(t, i + u * stride);
#pragma unroll
    for (int u = 0; u < kAdamwInFlight; ++u)
      updateAdamw(t, i + u * stride, in[u], c);
  }
  for (; i < t.n; i += stride)
    updateAdamw(t, i, loadAdamw(t, i), c);
}

/// Element or group `first` of a run of `stride` threads, by the path the tensor takes.
__device__ __forceinline__ void adamwThread(const AdamwTensor &t, int64_t first,
                                            int64_t stride, const AdamwCoefficients &c) {
  if (t.vector)
    adamwVectorStrided(t, first, stride, c);
  else
    adamwStrided(t, first, stride, c);
}

__global__ void adamwKernel(AdamwTensor t, const AdamwCoefficients *coefficients) {
  adamwThread(t, int64_t(blockIdx.x) * blockDim.x + threadIdx.x,
              int64_t(gridDim.x) * blockDim.x, *coefficients);
}

// 24 tensors of 120 bytes keep a batch under the classic 4 KB kernel-parameter limit.
constexpr int kMaxTensorsPerBatch = 24;
constexpr int64_t kMaxBlocksPerAdamwTensor = 1024;

/// Tensor k of a batch owns blocks [firstBlock[k], firstBlock[k + 1]).
struct AdamwBatch {
  AdamwTensor tensors[kMaxTensorsPerBatch];
  int64_t firstBlock[kMaxTensorsPerBatch + 1];
  int count;
};

__global__ void adamwMultiKernel(AdamwBatch batch, const AdamwCoefficients *coefficients) {
  AdamwCoefficients c = *coefficients;
  int k = 0;
  while (k + 1 < batch.count && int64_t(blockIdx.x) >= batch.firstBlock[k + 1])
    ++k;
  const AdamwTensor &t = batch.tensors[k];
  int64_t blocks = batch.firstBlock[k + 1] - batch.firstBlock[k];
  adamwThread(t, (int64_t(blockIdx.x) - batch.firstBlock[k]) * blockDim.x + threadIdx.x,
              blocks * blockDim.x, c);
}

} // namespace

Status gradNorm(KernelCall &call) {
  const char *k = "grad_norm";
  if (call.inputs.empty())
    return errorf(k, ": expected at least one gradient");
  for (const TensorView &grad : call.inputs) {
    if (grad.dtype != DType::F32 && grad.dtype != DType::BF16)
      return errorf(k, ": grads has dtype ", dtypeName(grad.dtype), ", expected f32 or bf16");
    if (grad.data == nullptr && grad.numElements() > 0)
      return errorf(k, ": grads (", grad.shapeString(), ") has no memory");
  }
  if (call.outputs.size() != 1)
    return errorf(k, ": expected 1 output but got ", call.outputs.size());
  const TensorView &result = call.outputs[0];
  if (result.dtype != DType::F32 && result.dtype != DType::BF16)
    return errorf(k, ": result has dtype ", dtypeName(result.dtype), ", expected f32 or bf16");
  DS_RETURN_IF_ERROR(expectElements(k, "result", result, 1));
  if (result.data == nullptr)
    return errorf(k, ": result has no memory");

  std::vector<int64_t> blocks;
  int64_t totalBlocks = 0;
  for (const TensorView &grad : call.inputs) {
    int64_t n = grad.numElements();
    blocks.push_back(n == 0 ? 0
                            : std::min(ceilDiv(n, kThreads * 8 * kSquaresUnroll),
                                       kMaxBlocksPerTensor));
    totalBlocks += blocks.back();
  }
  cudaStream_t stream = streamOf(call);
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, totalBlocks * sizeof(double), scratch));
  auto *partial = static_cast<double *>(scratch);
  int64_t offset = 0;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (blocks[i] == 0)
      continue;
    sumSquaresKernel<<<unsigned(blocks[i]), kThreads, 0, stream>>>(
        floatIn(call.inputs[i]), call.inputs[i].numElements(),
        isVectorAligned(call.inputs[i].data), partial + offset);
    DS_RETURN_IF_ERROR(launchCheck(k, "sumSquaresKernel"));
    offset += blocks[i];
  }
  finishNormKernel<<<1, 1024, 0, stream>>>(partial, totalBlocks, floatOut(result));
  return launchCheck(k, "finishNormKernel");
}

namespace {

/// adamw's operand checks for the tensor of `param`, `grad`, ... (one adamw call's
/// inputs and outputs, in order).
Status checkAdamwTensor(const char *k, const std::vector<TensorView> &inputs,
                        const std::vector<TensorView> &outputs) {
  KernelCall one;
  one.inputs = inputs;
  one.outputs = outputs;
  DS_RETURN_IF_ERROR(checkCall(one, k,
                               {{"param", Elem::Float},
                                {"grad", Elem::Float},
                                {"exp_avg", Elem::Float},
                                {"exp_avg_sq", Elem::Float},
                                {"lr", Elem::Float},
                                {"step", Elem::Float},
                                {"grad_norm", Elem::Float}},
                               {{"new_param", Elem::Float},
                                {"new_exp_avg", Elem::Float},
                                {"new_exp_avg_sq", Elem::Float}}));
  const TensorView &param = inputs[0];
  const char *sameShape[] = {"grad", "exp_avg", "exp_avg_sq"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectShape(k, sameShape[i], inputs[1 + i], param.shape));
  const char *outputNames[] = {"new_param", "new_exp_avg", "new_exp_avg_sq"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectShape(k, outputNames[i], outputs[i], param.shape));
  const char *scalars[] = {"lr", "step", "grad_norm"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectElements(k, scalars[i], inputs[4 + i], 1));
  return Status::ok();
}

AdamwTensor adamwTensor(const TensorView *inputs, const TensorView *outputs) {
  bool vector = true;
  for (int i = 0; i < 4; ++i)
    vector = vector && isVectorAligned(inputs[i].data);
  for (int i = 0; i < 3; ++i)
    vector = vector && isVectorAligned(outputs[i].data);
  return {floatIn(inputs[0]),   floatIn(inputs[1]),   floatIn(inputs[2]),
          floatIn(inputs[3]),   floatOut(outputs[0]), floatOut(outputs[1]),
          floatOut(outputs[2]), inputs[0].numElements(), vector};
}

/// Blocks of kThreads for one tensor: a thread per element or per group, up to a cap
/// (the threads then stride).
int64_t adamwBlocks(const AdamwTensor &t, int64_t cap) {
  return std::min(ceilDiv(elementThreads(t.n, t.vector), int64_t(kThreads)), cap);
}

/// The FP32 coefficients of this step in scratch (adamwCoefficientsKernel).
Status adamwCoefficients(const char *k, KernelCall &call, const TensorView &lr,
                         const TensorView &step, const TensorView &gradNorm,
                         AdamwCoefficients *&coefficients) {
  AdamwAttrs attrs;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "beta1", attrs.beta1));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "beta2", attrs.beta2));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "epsilon", attrs.epsilon));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "weight_decay", attrs.weightDecay));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "max_grad_norm", attrs.maxGradNorm));
  cudaStream_t stream = streamOf(call);
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, sizeof(AdamwCoefficients), scratch));
  coefficients = static_cast<AdamwCoefficients *>(scratch);
  adamwCoefficientsKernel<<<1, 1, 0, stream>>>(floatIn(lr), floatIn(step), floatIn(gradNorm),
                                               attrs, coefficients);
  return launchCheck(k, "adamwCoefficientsKernel");
}

} // namespace

Status adamw(KernelCall &call) {
  const char *k = "adamw";
  DS_RETURN_IF_ERROR(checkAdamwTensor(k, call.inputs, call.outputs));
  AdamwCoefficients *coefficients = nullptr;
  DS_RETURN_IF_ERROR(
      adamwCoefficients(k, call, call.inputs[4], call.inputs[5], call.inputs[6], coefficients));
  AdamwTensor tensor = adamwTensor(call.inputs.data(), call.outputs.data());
  if (tensor.n == 0)
    return Status::ok();
  adamwKernel<<<gridFor(elementThreads(tensor.n, tensor.vector), kThreads), kThreads, 0,
                streamOf(call)>>>(tensor, coefficients);
  return launchCheck(k, "adamwKernel");
}

Status adamwMulti(KernelCall &call) {
  const char *k = "adamw_multi";
  std::vector<KernelCall> pieces;
  DS_RETURN_IF_ERROR(cpu::splitAdamwMulti(call, pieces));
  size_t tensors = pieces.size();
  for (size_t t = 0; t < tensors; ++t)
    if (Status status = checkAdamwTensor("adamw", pieces[t].inputs, pieces[t].outputs);
        !status.isOk())
      return errorf(k, ": tensor ", t, ": ", status.message());
  if (tensors == 0)
    return Status::ok();
  AdamwCoefficients *coefficients = nullptr;
  DS_RETURN_IF_ERROR(
      adamwCoefficients(k, call, call.inputs[0], call.inputs[1], call.inputs[2], coefficients));
  AdamwBatch batch = {};
  auto flush = [&]() -> Status {
    if (batch.count == 0)
      return Status::ok();
    adamwMultiKernel<<<unsigned(batch.firstBlock[batch.count]), kThreads, 0, streamOf(call)>>>(
        batch, coefficients);
    batch = {};
    return launchCheck(k, "adamwMultiKernel");
  };
  for (size_t t = 0; t < tensors; ++t) {
    AdamwTensor tensor = adamwTensor(pieces[t].inputs.data(), pieces[t].outputs.data());
    if (tensor.n == 0)
      continue;
    int64_t blocks = adamwBlocks(tensor, kMaxBlocksPerAdamwTensor);
    batch.tensors[batch.count] = tensor;
    batch.firstBlock[batch.count + 1] = batch.firstBlock[batch.count] + blocks;
    if (++batch.count == kMaxTensorsPerBatch)
      DS_RETURN_IF_ERROR(flush());
  }
  return flush();
}

} // namespace ds::rt::cuda
