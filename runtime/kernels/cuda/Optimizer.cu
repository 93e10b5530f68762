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
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <algorithm>
#include <vector>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocksPerTensor = 256;

__global__ void sumSquaresKernel(FloatIn grad, int64_t n, double *partial) {
  double sum = 0.0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
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

__global__ void adamwKernel(FloatIn param, FloatIn grad, FloatIn expAvg, FloatIn expAvgSq,
                            FloatOut newParam, FloatOut newExpAvg, FloatOut newExpAvgSq,
                            int64_t n, const AdamwCoefficients *coefficients) {
  AdamwCoefficients c = *coefficients;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float p = param[i], g = grad[i] * c.gradScale;
    float m = c.b1 * expAvg[i] + c.oneMinusB1 * g;
    float v = c.b2 * expAvgSq[i] + c.oneMinusB2 * g * g;
    float update = (m * c.invCorrection1) / (sqrtf(v * c.invCorrection2) + c.eps);
    newExpAvg.store(i, m);
    newExpAvgSq.store(i, v);
    newParam.store(i, p - c.lr * (update + c.decay * p));
  }
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
    blocks.push_back(n == 0 ? 0 : std::min(ceilDiv(n, kThreads * 8), kMaxBlocksPerTensor));
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
        floatIn(call.inputs[i]), call.inputs[i].numElements(), partial + offset);
    DS_RETURN_IF_ERROR(launchCheck(k, "sumSquaresKernel"));
    offset += blocks[i];
  }
  finishNormKernel<<<1, 1024, 0, stream>>>(partial, totalBlocks, floatOut(result));
  return launchCheck(k, "finishNormKernel");
}

Status adamw(KernelCall &call) {
  const char *k = "adamw";
  DS_RETURN_IF_ERROR(checkCall(call, k,
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
  AdamwAttrs attrs;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "beta1", attrs.beta1));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "beta2", attrs.beta2));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "epsilon", attrs.epsilon));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "weight_decay", attrs.weightDecay));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "max_grad_norm", attrs.maxGradNorm));
  const TensorView &param = call.inputs[0];
  const char *sameShape[] = {"grad", "exp_avg", "exp_avg_sq"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectShape(k, sameShape[i], call.inputs[1 + i], param.shape));
  const char *outputs[] = {"new_param", "new_exp_avg", "new_exp_avg_sq"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectShape(k, outputs[i], call.outputs[i], param.shape));
  const char *scalars[] = {"lr", "step", "grad_norm"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectElements(k, scalars[i], call.inputs[4 + i], 1));
  int64_t n = param.numElements();
  if (n == 0)
    return Status::ok();
  cudaStream_t stream = streamOf(call);
  void *scratch = nullptr;
  DS_RETURN_IF_ERROR(streamScratch(k, stream, sizeof(AdamwCoefficients), scratch));
  auto *coefficients = static_cast<AdamwCoefficients *>(scratch);
  adamwCoefficientsKernel<<<1, 1, 0, stream>>>(floatIn(call.inputs[4]), floatIn(call.inputs[5]),
                                               floatIn(call.inputs[6]), attrs, coefficients);
  DS_RETURN_IF_ERROR(launchCheck(k, "adamwCoefficientsKernel"));
  adamwKernel<<<gridFor(n, kThreads), kThreads, 0, stream>>>(
      floatIn(param), floatIn(call.inputs[1]), floatIn(call.inputs[2]), floatIn(call.inputs[3]),
      floatOut(call.outputs[0]), floatOut(call.outputs[1]), floatOut(call.outputs[2]), n,
      coefficients);
  return launchCheck(k, "adamwKernel");
}

} // namespace ds::rt::cuda
