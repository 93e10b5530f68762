//===- Elementwise.cpp - swiglu, add, mul, scale, convert -----------------===//
//
// SwiGLU (Shazeer 2020) as DeepSeek's FFN uses it: silu(gate) * up with gate_up [..., 2I],
// gate in the first half. silu'(g) = sigma(g) * (1 + g * (1 - sigma(g))).
// These kernels read an element before writing the same element, so an output may alias
// an input of the same shape and dtype (add, mul, scale, convert).
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <cmath>

namespace ds::rt::cpu {
namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

Status checkSwigluInput(const char *kernel, const TensorView &gateUp, int64_t &half) {
  DS_RETURN_IF_ERROR(expectMinRank(kernel, "gate_up", gateUp, 1));
  if (gateUp.dim(-1) % 2 != 0)
    return errorf(kernel, ": gate_up has shape ", gateUp.shapeString(),
                  ", expected an even last dimension [..., 2I]");
  half = gateUp.dim(-1) / 2;
  return Status::ok();
}

/// Shape of gate_up with its last dimension halved.
std::vector<int64_t> halved(const TensorView &gateUp) {
  std::vector<int64_t> shape = gateUp.shape;
  shape.back() /= 2;
  return shape;
}

Status binary(KernelCall &call, const char *kernel, bool multiply) {
  DS_RETURN_IF_ERROR(checkCall(call, kernel, {{"lhs", Elem::Float}, {"rhs", Elem::Float}},
                               {{"result", Elem::Float}}));
  const TensorView &lhsView = call.inputs[0];
  DS_RETURN_IF_ERROR(expectShape(kernel, "rhs", call.inputs[1], lhsView.shape));
  DS_RETURN_IF_ERROR(expectShape(kernel, "result", call.outputs[0], lhsView.shape));
  FloatReader lhs(lhsView), rhs(call.inputs[1]);
  FloatWriter result(call.outputs[0]);
  int64_t n = lhsView.numElements();
  if (multiply)
    for (int64_t i = 0; i < n; ++i)
      result[i] = lhs[i] * rhs[i];
  else
    for (int64_t i = 0; i < n; ++i)
      result[i] = lhs[i] + rhs[i];
  return Status::ok();
}

} // namespace

Status swiglu(KernelCall &call) {
  const char *k = "swiglu";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"gate_up", Elem::Float}}, {{"result", Elem::Float}}));
  int64_t half;
  DS_RETURN_IF_ERROR(checkSwigluInput(k, call.inputs[0], half));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], halved(call.inputs[0])));
  FloatReader gateUp(call.inputs[0]);
  FloatWriter result(call.outputs[0]);
  int64_t rows = half == 0 ? 0 : call.inputs[0].numElements() / (2 * half);
  for (int64_t r = 0; r < rows; ++r) {
    const float *gate = gateUp.data() + r * 2 * half, *up = gate + half;
    float *y = result.data() + r * half;
    for (int64_t i = 0; i < half; ++i)
      y[i] = gate[i] * sigmoid(gate[i]) * up[i];
  }
  return Status::ok();
}

Status swigluGrad(KernelCall &call) {
  const char *k = "swiglu_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"gate_up", Elem::Float}, {"result_grad", Elem::Float}},
                               {{"gate_up_grad", Elem::Float}}));
  int64_t half;
  DS_RETURN_IF_ERROR(checkSwigluInput(k, call.inputs[0], half));
  DS_RETURN_IF_ERROR(expectShape(k, "result_grad", call.inputs[1], halved(call.inputs[0])));
  DS_RETURN_IF_ERROR(expectShape(k, "gate_up_grad", call.outputs[0], call.inputs[0].shape));
  FloatReader gateUp(call.inputs[0]), resultGrad(call.inputs[1]);
  FloatWriter gateUpGrad(call.outputs[0]);
  int64_t rows = half == 0 ? 0 : call.inputs[0].numElements() / (2 * half);
  for (int64_t r = 0; r < rows; ++r) {
    const float *gate = gateUp.data() + r * 2 * half, *up = gate + half;
    const float *dy = resultGrad.data() + r * half;
    float *dGate = gateUpGrad.data() + r * 2 * half, *dUp = dGate + half;
    for (int64_t i = 0; i < half; ++i) {
      float g = gate[i], u = up[i], s = sigmoid(g);
      dGate[i] = dy[i] * u * s * (1.0f + g * (1.0f - s));
      dUp[i] = dy[i] * g * s;
    }
  }
  return Status::ok();
}

Status add(KernelCall &call) { return binary(call, "add", /*multiply=*/false); }

Status mul(KernelCall &call) { return binary(call, "mul", /*multiply=*/true); }

Status scale(KernelCall &call) {
  const char *k = "scale";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  double factor;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "factor", factor));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[0].shape));
  FloatReader input(call.inputs[0]);
  FloatWriter result(call.outputs[0]);
  float f = static_cast<float>(factor);
  for (int64_t i = 0; i < call.inputs[0].numElements(); ++i)
    result[i] = input[i] * f;
  return Status::ok();
}

Status convert(KernelCall &call) {
  const char *k = "convert";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[0].shape));
  copyElements(call.inputs[0], 0, call.outputs[0], 0, call.inputs[0].numElements());
  return Status::ok();
}

} // namespace ds::rt::cpu
