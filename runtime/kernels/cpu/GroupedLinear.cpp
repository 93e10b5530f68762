//===- GroupedLinear.cpp - ds.grouped_linear and its backward GEMMs -------===//
//
// Rows of the input are grouped by expert (ds.dispatch made them contiguous): expert e
// owns rows [sum(counts[:e]), sum(counts[:e+1])) and multiplies them by weight[e]^T.
// Experts that received no rows do nothing forward and get a zero weight gradient.
// fp8_promote_interval selects the emulated FP8 accumulation (Gemm.h) per expert GEMM;
// for the weight gradient its runs are counted from each expert's first row. math
// (ds-gemm-precision) rounds the operands to BF16 or TF32 first.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"
#include "runtime/kernels/cpu/Gemm.h"

namespace ds::rt::cpu {
namespace {

/// Counts come from routing at run time: each must be >= 0 and together they must cover
/// exactly the `rows` rows, or an expert would read past the input.
Status checkCounts(const char *kernel, const TensorView &countsView, int64_t experts, int64_t rows,
                   std::vector<int64_t> &offsets) {
  DS_RETURN_IF_ERROR(expectShape(kernel, "counts", countsView, {experts}));
  const int32_t *counts = countsView.as<const int32_t>();
  offsets.assign(experts + 1, 0);
  for (int64_t e = 0; e < experts; ++e) {
    if (counts[e] < 0)
      return errorf(kernel, ": counts[", e, "] = ", counts[e], " is negative");
    offsets[e + 1] = offsets[e] + counts[e];
  }
  if (offsets[experts] != rows)
    return errorf(kernel, ": counts sum to ", offsets[experts], " but there are ", rows, " rows");
  return Status::ok();
}

Status checkWeight(const char *kernel, const char *name, const TensorView &weight) {
  if (weight.rank() != 3)
    return errorf(kernel, ": ", name, " has shape ", weight.shapeString(),
                  ", expected [E, Nout, K]");
  return Status::ok();
}

Status checkMatrix(const char *kernel, const char *name, const TensorView &t, int64_t cols) {
  if (t.rank() != 2 || t.dim(1) != cols)
    return errorf(kernel, ": ", name, " has shape ", t.shapeString(), ", expected [N, ", cols, "]");
  return Status::ok();
}

} // namespace

Status groupedLinear(KernelCall &call) {
  const char *k = "grouped_linear";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"input", Elem::Float}, {"weight", Elem::Float}, {"counts", Elem::Index}},
                {{"result", Elem::Float}}));
  const TensorView &weight = call.inputs[1];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight", weight));
  int64_t experts = weight.dim(0), outFeatures = weight.dim(1), inFeatures = weight.dim(2);
  DS_RETURN_IF_ERROR(checkMatrix(k, "input", call.inputs[0], inFeatures));
  int64_t rows = call.inputs[0].dim(0);
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], {rows, outFeatures}));
  std::vector<int64_t> offsets;
  DS_RETURN_IF_ERROR(checkCounts(k, call.inputs[2], experts, rows, offsets));
  GemmOptions gemm;
  DS_RETURN_IF_ERROR(readGemmOptions(call, k, gemm));
  GemmOperand x(call.inputs[0], gemm.math), w(weight, gemm.math);
  FloatWriter y(call.outputs[0]);
  for (int64_t e = 0; e < experts; ++e)
    gemmABt(offsets[e + 1] - offsets[e], outFeatures, inFeatures,
            x.data() + offsets[e] * inFeatures, w.data() + e * outFeatures * inFeatures,
            y.data() + offsets[e] * outFeatures, gemm.promoteInterval);
  return Status::ok();
}

Status groupedLinearDgrad(KernelCall &call) {
  const char *k = "grouped_linear_dgrad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"result_grad", Elem::Float}, {"weight", Elem::Float}, {"counts", Elem::Index}},
      {{"input_grad", Elem::Float}}));
  const TensorView &weight = call.inputs[1];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight", weight));
  int64_t experts = weight.dim(0), outFeatures = weight.dim(1), inFeatures = weight.dim(2);
  DS_RETURN_IF_ERROR(checkMatrix(k, "result_grad", call.inputs[0], outFeatures));
  int64_t rows = call.inputs[0].dim(0);
  DS_RETURN_IF_ERROR(expectShape(k, "input_grad", call.outputs[0], {rows, inFeatures}));
  std::vector<int64_t> offsets;
  DS_RETURN_IF_ERROR(checkCounts(k, call.inputs[2], experts, rows, offsets));
  GemmOptions gemm;
  DS_RETURN_IF_ERROR(readGemmOptions(call, k, gemm));
  GemmOperand dy(call.inputs[0], gemm.math), w(weight, gemm.math);
  FloatWriter dx(call.outputs[0]);
  for (int64_t e = 0; e < experts; ++e)
    gemmAB(offsets[e + 1] - offsets[e], inFeatures, outFeatures,
           dy.data() + offsets[e] * outFeatures, w.data() + e * outFeatures * inFeatures,
           dx.data() + offsets[e] * inFeatures, gemm.promoteInterval);
  return Status::ok();
}

Status groupedLinearWgrad(KernelCall &call) {
  const char *k = "grouped_linear_wgrad";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"result_grad", Elem::Float}, {"input", Elem::Float}, {"counts", Elem::Index}},
      {{"weight_grad", Elem::Float}}));
  const TensorView &weightGrad = call.outputs[0];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight_grad", weightGrad));
  int64_t experts = weightGrad.dim(0), outFeatures = weightGrad.dim(1);
  int64_t inFeatures = weightGrad.dim(2);
  DS_RETURN_IF_ERROR(checkMatrix(k, "result_grad", call.inputs[0], outFeatures));
  int64_t rows = call.inputs[0].dim(0);
  DS_RETURN_IF_ERROR(expectShape(k, "input", call.inputs[1], {rows, inFeatures}));
  std::vector<int64_t> offsets;
  DS_RETURN_IF_ERROR(checkCounts(k, call.inputs[2], experts, rows, offsets));
  GemmOptions gemm;
  DS_RETURN_IF_ERROR(readGemmOptions(call, k, gemm));
  GemmOperand dy(call.inputs[0], gemm.math), x(call.inputs[1], gemm.math);
  FloatWriter dw(weightGrad);
  for (int64_t e = 0; e < experts; ++e)
    gemmAtB(outFeatures, inFeatures, offsets[e + 1] - offsets[e],
            dy.data() + offsets[e] * outFeatures, x.data() + offsets[e] * inFeatures,
            dw.data() + e * outFeatures * inFeatures, gemm.promoteInterval);
  return Status::ok();
}

} // namespace ds::rt::cpu
