//===- Optimizer.cpp - grad_norm, adamw, bias_update ----------------------===//
//
// grad_norm: the global L2 norm over every gradient of the step (the quantity
// torch.nn.utils.clip_grad_norm_ clips by), squares summed in double.
// adamw: AdamW (Loshchilov & Hutter 2019) with decoupled weight decay on the old
// parameter, bias corrections at the 1-based `step`, and clipping folded into the gradient
// as g * min(1, max_grad_norm / (grad_norm + 1e-6)) (torch's clip coefficient).
// bias_update: auxiliary-loss-free balancing (V3 report §2.1.2, after eq. 16):
// b_i += gamma * sign(mean load - load_i), so an overloaded expert becomes less likely to
// be selected next step. sign(0) = 0.
//
// adamw_multi and bias_update_multi (ds-fuse) update many tensors in one launch, each by
// the single kernel itself, so a fused step updates every tensor bit for bit as before.
//
// adamw and bias_update read an element before writing it: outputs may alias inputs.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <cmath>

namespace ds::rt::cpu {

Status gradNorm(KernelCall &call) {
  const char *k = "grad_norm";
  if (call.inputs.empty())
    return errorf(k, ": expected at least one gradient");
  for (const TensorView &grad : call.inputs)
    DS_RETURN_IF_ERROR(checkOperand(k, {"grads", Elem::Float}, grad));
  if (call.outputs.size() != 1)
    return errorf(k, ": expected 1 output but got ", call.outputs.size());
  DS_RETURN_IF_ERROR(checkOperand(k, {"result", Elem::Float}, call.outputs[0]));
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], 1));
  double sumSquares = 0.0;
  for (const TensorView &gradView : call.inputs) {
    FloatReader grad(gradView);
    for (int64_t i = 0; i < gradView.numElements(); ++i)
      sumSquares += static_cast<double>(grad[i]) * grad[i];
  }
  writeScalar(call.outputs[0], static_cast<float>(std::sqrt(sumSquares)));
  return Status::ok();
}

Status adamw(KernelCall &call) {
  const char *k = "adamw";
  DS_RETURN_IF_ERROR(checkCall(
      call, k,
      {{"param", Elem::Float},
       {"grad", Elem::Float},
       {"exp_avg", Elem::Float},
       {"exp_avg_sq", Elem::Float},
       {"lr", Elem::Float},
       {"step", Elem::Float},
       {"grad_norm", Elem::Float}},
      {{"new_param", Elem::Float}, {"new_exp_avg", Elem::Float}, {"new_exp_avg_sq", Elem::Float}}));
  double beta1, beta2, epsilon, weightDecay, maxGradNorm;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "beta1", beta1));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "beta2", beta2));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "epsilon", epsilon));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "weight_decay", weightDecay));
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "max_grad_norm", maxGradNorm));
  const TensorView &paramView = call.inputs[0];
  const char *sameShape[] = {"grad", "exp_avg", "exp_avg_sq"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectShape(k, sameShape[i], call.inputs[1 + i], paramView.shape));
  const char *outputs[] = {"new_param", "new_exp_avg", "new_exp_avg_sq"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectShape(k, outputs[i], call.outputs[i], paramView.shape));
  const char *scalars[] = {"lr", "step", "grad_norm"};
  for (int i = 0; i < 3; ++i)
    DS_RETURN_IF_ERROR(expectElements(k, scalars[i], call.inputs[4 + i], 1));
  double lr = readScalar(call.inputs[4]), step = readScalar(call.inputs[5]);
  double gradNormValue = readScalar(call.inputs[6]);
  if (!(step >= 1.0) || !std::isfinite(step))
    return errorf(k, ": step ", step, " must be >= 1 (steps count from 1)");
  double clip = 1.0;
  if (maxGradNorm > 0.0)
    clip = std::fmin(1.0, maxGradNorm / (gradNormValue + 1e-6));
  // Scalar coefficients in double, rounded once; the elementwise update runs in FP32.
  float gradScale = static_cast<float>(clip);
  float b1 = static_cast<float>(beta1), oneMinusB1 = static_cast<float>(1.0 - beta1);
  float b2 = static_cast<float>(beta2), oneMinusB2 = static_cast<float>(1.0 - beta2);
  float invCorrection1 = static_cast<float>(1.0 / (1.0 - std::pow(beta1, step)));
  float invCorrection2 = static_cast<float>(1.0 / (1.0 - std::pow(beta2, step)));
  float lrF = static_cast<float>(lr), eps = static_cast<float>(epsilon);
  float decay = static_cast<float>(weightDecay);
  FloatReader param(paramView), grad(call.inputs[1]), expAvg(call.inputs[2]),
      expAvgSq(call.inputs[3]);
  FloatWriter newParam(call.outputs[0]), newExpAvg(call.outputs[1]), newExpAvgSq(call.outputs[2]);
  for (int64_t i = 0; i < paramView.numElements(); ++i) {
    float p = param[i], g = grad[i] * gradScale;
    float m = b1 * expAvg[i] + oneMinusB1 * g;
    float v = b2 * expAvgSq[i] + oneMinusB2 * g * g;
    float update = (m * invCorrection1) / (std::sqrt(v * invCorrection2) + eps);
    newExpAvg[i] = m;
    newExpAvgSq[i] = v;
    newParam[i] = p - lrF * (update + decay * p);
  }
  return Status::ok();
}

Status biasUpdate(KernelCall &call) {
  const char *k = "bias_update";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"bias", Elem::Float}, {"counts", Elem::Index}},
                               {{"new_bias", Elem::Float}}));
  double gamma;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "gamma", gamma));
  const TensorView &biasView = call.inputs[0];
  if (biasView.rank() != 1)
    return errorf(k, ": bias has shape ", biasView.shapeString(), ", expected [E]");
  int64_t experts = biasView.dim(0);
  DS_RETURN_IF_ERROR(expectShape(k, "counts", call.inputs[1], {experts}));
  DS_RETURN_IF_ERROR(expectShape(k, "new_bias", call.outputs[0], {experts}));
  const int32_t *counts = call.inputs[1].as<const int32_t>();
  double total = 0.0;
  for (int64_t e = 0; e < experts; ++e) {
    if (counts[e] < 0)
      return errorf(k, ": counts[", e, "] = ", counts[e], " is negative");
    total += counts[e];
  }
  double meanLoad = experts == 0 ? 0.0 : total / experts;
  FloatReader bias(biasView);
  FloatWriter newBias(call.outputs[0]);
  float step = static_cast<float>(gamma);
  for (int64_t e = 0; e < experts; ++e) {
    float sign = meanLoad > counts[e] ? 1.0f : (meanLoad < counts[e] ? -1.0f : 0.0f);
    newBias[e] = bias[e] + step * sign;
  }
  return Status::ok();
}

Status splitAdamwMulti(const KernelCall &call, std::vector<KernelCall> &perTensor) {
  size_t tensors = call.inputs.size() < 3 ? 0 : (call.inputs.size() - 3) / 4;
  if (call.inputs.size() != 3 + 4 * tensors || call.outputs.size() != 3 * tensors)
    return errorf("adamw_multi: expected lr, step, grad_norm, then 4 inputs (param, grad, "
                  "exp_avg, exp_avg_sq) and 3 outputs per tensor; got ",
                  call.inputs.size(), " inputs and ", call.outputs.size(), " outputs");
  perTensor.assign(tensors, KernelCall());
  for (size_t t = 0; t < tensors; ++t) {
    KernelCall &one = perTensor[t];
    one.inputs.assign(call.inputs.begin() + 3 + 4 * t, call.inputs.begin() + 7 + 4 * t);
    one.inputs.insert(one.inputs.end(), call.inputs.begin(), call.inputs.begin() + 3);
    one.outputs.assign(call.outputs.begin() + 3 * t, call.outputs.begin() + 3 * (t + 1));
    one.attrs = call.attrs;
    one.stream = call.stream;
  }
  return Status::ok();
}

Status splitBiasUpdateMulti(const KernelCall &call, std::vector<KernelCall> &perTensor) {
  size_t tensors = call.outputs.size();
  if (call.inputs.size() != 2 * tensors)
    return errorf("bias_update_multi: expected 2 inputs (bias, counts) per output "
                  "(new_bias); got ",
                  call.inputs.size(), " inputs and ", tensors, " outputs");
  perTensor.assign(tensors, KernelCall());
  for (size_t t = 0; t < tensors; ++t) {
    perTensor[t].inputs = {call.inputs[2 * t], call.inputs[2 * t + 1]};
    perTensor[t].outputs = {call.outputs[t]};
    perTensor[t].attrs = call.attrs;
    perTensor[t].stream = call.stream;
  }
  return Status::ok();
}

namespace {

/// Runs `kernel` on each piece of a multi-tensor launch, naming the failing tensor.
Status runPerTensor(const char *fused, KernelFn kernel, std::vector<KernelCall> &pieces) {
  for (size_t t = 0; t < pieces.size(); ++t)
    if (Status status = kernel(pieces[t]); !status.isOk())
      return errorf(fused, ": tensor ", t, ": ", status.message());
  return Status::ok();
}

} // namespace

Status adamwMulti(KernelCall &call) {
  std::vector<KernelCall> pieces;
  DS_RETURN_IF_ERROR(splitAdamwMulti(call, pieces));
  return runPerTensor("adamw_multi", adamw, pieces);
}

Status biasUpdateMulti(KernelCall &call) {
  std::vector<KernelCall> pieces;
  DS_RETURN_IF_ERROR(splitBiasUpdateMulti(call, pieces));
  return runPerTensor("bias_update_multi", biasUpdate, pieces);
}

} // namespace ds::rt::cpu
