//===- RmsNorm.cpp - ds.rms_norm and ds.rms_norm_grad ---------------------===//
//
// y = x * r * w with r = 1 / sqrt(mean(x^2) + eps) (Zhang & Sennrich 2019; HF
// DeepseekV3RMSNorm computes it in FP32). The mean of squares accumulates in double.
//
// Backward, with xhat = x * r and g = dy * w:
//   dw = sum over rows of dy * xhat
//   dx = r * (g - xhat * mean(g * xhat))
//
// The residual fusions of ds-fuse (layouts in CpuKernels.h) run the add and the norm as
// the unfused launches do: add_rms_norm normalizes the sum as stored, rms_norm_grad_add
// adds the FP32 input gradient (IEEE addition commutes, so the operand order of the add it
// replaces does not matter).
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <cmath>

namespace ds::rt::cpu {
namespace {

float inverseRms(const float *x, int64_t width, double eps) {
  double sumSquares = 0.0;
  for (int64_t j = 0; j < width; ++j)
    sumSquares += static_cast<double>(x[j]) * x[j];
  return static_cast<float>(1.0 / std::sqrt(sumSquares / width + eps));
}

Status checkNormShapes(const char *kernel, const TensorView &input, const TensorView &weight,
                       int64_t &width) {
  DS_RETURN_IF_ERROR(expectMinRank(kernel, "input", input, 1));
  width = input.dim(-1);
  return expectShape(kernel, "weight", weight, {width});
}

} // namespace

Status rmsNorm(KernelCall &call) {
  const char *k = "rms_norm";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}, {"weight", Elem::Float}},
                               {{"result", Elem::Float}}));
  double eps;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "eps", eps));
  int64_t width;
  DS_RETURN_IF_ERROR(checkNormShapes(k, call.inputs[0], call.inputs[1], width));
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], call.inputs[0].numElements()));
  if (width == 0)
    return Status::ok();
  FloatReader input(call.inputs[0]), weight(call.inputs[1]);
  FloatWriter result(call.outputs[0]);
  int64_t rows = call.inputs[0].numElements() / width;
  for (int64_t row = 0; row < rows; ++row) {
    const float *x = input.data() + row * width;
    float *y = result.data() + row * width;
    float r = inverseRms(x, width, eps);
    for (int64_t j = 0; j < width; ++j)
      y[j] = x[j] * r * weight[j];
  }
  return Status::ok();
}

Status rmsNormGrad(KernelCall &call) {
  const char *k = "rms_norm_grad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"input", Elem::Float}, {"weight", Elem::Float}, {"result_grad", Elem::Float}},
      {{"input_grad", Elem::Float}, {"weight_grad", Elem::Float}}));
  double eps;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "eps", eps));
  int64_t width;
  DS_RETURN_IF_ERROR(checkNormShapes(k, call.inputs[0], call.inputs[1], width));
  int64_t n = call.inputs[0].numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[2], n));
  DS_RETURN_IF_ERROR(expectElements(k, "input_grad", call.outputs[0], n));
  DS_RETURN_IF_ERROR(expectElements(k, "weight_grad", call.outputs[1], width));
  FloatReader input(call.inputs[0]), weight(call.inputs[1]), resultGrad(call.inputs[2]);
  FloatWriter inputGrad(call.outputs[0]), weightGrad(call.outputs[1]);
  if (width == 0)
    return Status::ok();
  // Weight gradients sum over rows in double, in row order (deterministic).
  std::vector<double> weightGradSum(width, 0.0);
  std::vector<float> xhat(width);
  int64_t rows = n / width;
  for (int64_t row = 0; row < rows; ++row) {
    const float *x = input.data() + row * width;
    const float *dy = resultGrad.data() + row * width;
    float *dx = inputGrad.data() + row * width;
    float r = inverseRms(x, width, eps);
    double dot = 0.0; // sum_j g_j * xhat_j
    for (int64_t j = 0; j < width; ++j) {
      xhat[j] = x[j] * r;
      weightGradSum[j] += static_cast<double>(dy[j]) * xhat[j];
      dot += static_cast<double>(dy[j]) * weight[j] * xhat[j];
    }
    float meanDot = static_cast<float>(dot / width);
    for (int64_t j = 0; j < width; ++j)
      dx[j] = r * (dy[j] * weight[j] - xhat[j] * meanDot);
  }
  for (int64_t j = 0; j < width; ++j)
    weightGrad[j] = static_cast<float>(weightGradSum[j]);
  return Status::ok();
}

Status addRmsNorm(KernelCall &call) {
  const char *k = "add_rms_norm";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"lhs", Elem::Float}, {"rhs", Elem::Float}, {"weight", Elem::Float}},
                {{"sum", Elem::Float}, {"result", Elem::Float}}));
  DS_RETURN_IF_ERROR(runStage(k, add, {call.inputs[0], call.inputs[1]}, {call.outputs[0]}));
  return runStage(k, rmsNorm, {call.outputs[0], call.inputs[2]}, {call.outputs[1]}, call.attrs);
}

Status rmsNormGradAdd(KernelCall &call) {
  const char *k = "rms_norm_grad_add";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"input", Elem::Float},
                                {"weight", Elem::Float},
                                {"result_grad", Elem::Float},
                                {"residual_grad", Elem::Float}},
                               {{"sum", Elem::Float}, {"weight_grad", Elem::Float}}));
  const TensorView &input = call.inputs[0];
  ScratchTensor inputGrad(DType::F32, input.shape);
  DS_RETURN_IF_ERROR(runStage(k, rmsNormGrad, {input, call.inputs[1], call.inputs[2]},
                              {inputGrad.view(), call.outputs[1]}, call.attrs));
  return runStage(k, add, {inputGrad.view(), call.inputs[3]}, {call.outputs[0]});
}

} // namespace ds::rt::cpu
