//===- Linear.cpp - ds.linear and its two backward GEMMs ------------------===//
//
// y = x W^T over the last dimension (x [..., K], W [N, K]); dx = dy W; dW = dy^T x summed
// over every leading row. The FP8 recipe quantizes the operands before these kernels
// (ds.quantize/ds.dequantize), so they only ever see F32/BF16 storage; the attribute
// fp8_promote_interval, set on the GEMMs that ds-fp8-cast quantized, selects the emulated
// FP8 tensor-core accumulation (Gemm.h) over the reduced dimension: K for y, N for dx,
// the rows (tokens) for dW. The attribute math (ds-gemm-precision) rounds both operands
// of each product to BF16 or TF32 first (Gemm.h).
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"
#include "runtime/kernels/cpu/Gemm.h"

namespace ds::rt::cpu {
namespace {

/// Rows of a [..., width] activation: the product of its leading dimensions.
int64_t leadingRows(const TensorView &t) { return product(t.shape, 0, t.rank() - 1); }

Status checkWeight(const char *kernel, const TensorView &weight) {
  if (weight.rank() != 2)
    return errorf(kernel, ": weight has shape ", weight.shapeString(), ", expected [N, K]");
  return Status::ok();
}

} // namespace

Status linear(KernelCall &call) {
  const char *k = "linear";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}, {"weight", Elem::Float}},
                               {{"result", Elem::Float}}));
  const TensorView &input = call.inputs[0], &weight = call.inputs[1];
  DS_RETURN_IF_ERROR(checkWeight(k, weight));
  DS_RETURN_IF_ERROR(expectMinRank(k, "input", input, 1));
  int64_t outFeatures = weight.dim(0), inFeatures = weight.dim(1);
  if (input.dim(-1) != inFeatures)
    return errorf(k, ": input has shape ", input.shapeString(), " but weight ",
                  weight.shapeString(), " expects a last dimension of ", inFeatures);
  int64_t rows = leadingRows(input);
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], rows * outFeatures));
  GemmOptions gemm;
  DS_RETURN_IF_ERROR(readGemmOptions(call, k, gemm));
  GemmOperand x(input, gemm.math), w(weight, gemm.math);
  FloatWriter y(call.outputs[0]);
  gemmABt(rows, outFeatures, inFeatures, x.data(), w.data(), y.data(), gemm.promoteInterval);
  return Status::ok();
}

Status linearDgrad(KernelCall &call) {
  const char *k = "linear_dgrad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"result_grad", Elem::Float}, {"weight", Elem::Float}},
                               {{"input_grad", Elem::Float}}));
  const TensorView &resultGrad = call.inputs[0], &weight = call.inputs[1];
  DS_RETURN_IF_ERROR(checkWeight(k, weight));
  DS_RETURN_IF_ERROR(expectMinRank(k, "result_grad", resultGrad, 1));
  int64_t outFeatures = weight.dim(0), inFeatures = weight.dim(1);
  if (resultGrad.dim(-1) != outFeatures)
    return errorf(k, ": result_grad has shape ", resultGrad.shapeString(), " but weight ",
                  weight.shapeString(), " has ", outFeatures, " output features");
  int64_t rows = leadingRows(resultGrad);
  DS_RETURN_IF_ERROR(expectElements(k, "input_grad", call.outputs[0], rows * inFeatures));
  GemmOptions gemm;
  DS_RETURN_IF_ERROR(readGemmOptions(call, k, gemm));
  GemmOperand dy(resultGrad, gemm.math), w(weight, gemm.math);
  FloatWriter dx(call.outputs[0]);
  gemmAB(rows, inFeatures, outFeatures, dy.data(), w.data(), dx.data(), gemm.promoteInterval);
  return Status::ok();
}

Status linearWgrad(KernelCall &call) {
  const char *k = "linear_wgrad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"result_grad", Elem::Float}, {"input", Elem::Float}},
                               {{"weight_grad", Elem::Float}}));
  const TensorView &resultGrad = call.inputs[0], &input = call.inputs[1];
  const TensorView &weightGrad = call.outputs[0];
  DS_RETURN_IF_ERROR(checkWeight(k, weightGrad));
  DS_RETURN_IF_ERROR(expectMinRank(k, "result_grad", resultGrad, 1));
  DS_RETURN_IF_ERROR(expectMinRank(k, "input", input, 1));
  int64_t outFeatures = weightGrad.dim(0), inFeatures = weightGrad.dim(1);
  int64_t rows = leadingRows(input);
  if (input.dim(-1) != inFeatures || resultGrad.dim(-1) != outFeatures ||
      leadingRows(resultGrad) != rows)
    return errorf(k, ": result_grad ", resultGrad.shapeString(), " and input ", input.shapeString(),
                  " do not fit weight_grad ", weightGrad.shapeString());
  GemmOptions gemm;
  DS_RETURN_IF_ERROR(readGemmOptions(call, k, gemm));
  GemmOperand dy(resultGrad, gemm.math), x(input, gemm.math);
  FloatWriter dw(weightGrad);
  gemmAtB(outFeatures, inFeatures, rows, dy.data(), x.data(), dw.data(), gemm.promoteInterval);
  return Status::ok();
}

} // namespace ds::rt::cpu
