//===- Linear.cpp - ds.linear and its two backward GEMMs on cuBLASLt ------===//
//
// y = x W^T, dx = dy W, dW = dy^T x (x [..., K], W [N, K], every leading dimension folded
// into M rows). Roofline: 2·M·N·K FLOPs each, against (M·K + N·K + M·N)·bytes of traffic;
// at V3 shapes all three are tensor-core bound, so they go to cuBLASLt (LtGemm.h).
//
// Row-major to column-major: a row-major [r, c] buffer is the column-major [c, r] matrix,
// so each product is written for the transposes:
//   y^T [N, M]  = (W as col-major [K, N])^T · (x as col-major [K, M])
//   dx^T [K, M] = (W as col-major [K, N])   · (dy as col-major [N, M])
//   dW^T [K, N] = (x as col-major [K, M])   · (dy as col-major [N, M])^T
//
// The attribute math (ds-gemm-precision) puts F32 operands on the tensor cores, rounded
// to BF16 or TF32 inside cuBLASLt, as the CPU kernels emulate (cpu/Gemm.h).
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/LtGemm.h"

namespace ds::rt::cuda {
namespace {

int64_t leadingRows(const TensorView &t) { return product(t.shape, 0, t.rank() - 1); }

Status checkWeight(const char *kernel, const char *name, const TensorView &weight) {
  if (weight.rank() != 2)
    return errorf(kernel, ": ", name, " has shape ", weight.shapeString(),
                  ", expected [N, K]");
  return Status::ok();
}

Status zeroFill(const char *kernel, const TensorView &t, cudaStream_t stream) {
  return cudaCheck(cudaMemsetAsync(t.data, 0, t.sizeInBytes(), stream), kernel,
                   "cudaMemsetAsync");
}

} // namespace

Status linear(KernelCall &call) {
  const char *k = "linear";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}, {"weight", Elem::Float}},
                               {{"result", Elem::Float}}));
  const TensorView &x = call.inputs[0], &w = call.inputs[1], &y = call.outputs[0];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight", w));
  DS_RETURN_IF_ERROR(expectMinRank(k, "input", x, 1));
  int64_t n = w.dim(0), kDim = w.dim(1), m = leadingRows(x);
  if (x.dim(-1) != kDim)
    return errorf(k, ": input has shape ", x.shapeString(), " but weight ", w.shapeString(),
                  " expects a last dimension of ", kDim);
  DS_RETURN_IF_ERROR(expectElements(k, "result", y, m * n));
  LtOptions options;
  DS_RETURN_IF_ERROR(readLtMath(k, call.attrs, options.math));
  if (kDim == 0)
    return zeroFill(k, y, streamOf(call));
  return ltMatmul(k, streamOf(call), n, m, kDim, {w.data, w.dtype, kDim, true},
                  {x.data, x.dtype, kDim, false}, y.data, y.dtype, n, options);
}

Status linearDgrad(KernelCall &call) {
  const char *k = "linear_dgrad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"result_grad", Elem::Float}, {"weight", Elem::Float}},
                               {{"input_grad", Elem::Float}}));
  const TensorView &dy = call.inputs[0], &w = call.inputs[1], &dx = call.outputs[0];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight", w));
  DS_RETURN_IF_ERROR(expectMinRank(k, "result_grad", dy, 1));
  int64_t n = w.dim(0), kDim = w.dim(1), m = leadingRows(dy);
  if (dy.dim(-1) != n)
    return errorf(k, ": result_grad has shape ", dy.shapeString(), " but weight ",
                  w.shapeString(), " has ", n, " output features");
  DS_RETURN_IF_ERROR(expectElements(k, "input_grad", dx, m * kDim));
  LtOptions options;
  DS_RETURN_IF_ERROR(readLtMath(k, call.attrs, options.math));
  if (n == 0)
    return zeroFill(k, dx, streamOf(call));
  return ltMatmul(k, streamOf(call), kDim, m, n, {w.data, w.dtype, kDim, false},
                  {dy.data, dy.dtype, n, false}, dx.data, dx.dtype, kDim, options);
}

Status linearWgrad(KernelCall &call) {
  const char *k = "linear_wgrad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"result_grad", Elem::Float}, {"input", Elem::Float}},
                               {{"weight_grad", Elem::Float}}));
  const TensorView &dy = call.inputs[0], &x = call.inputs[1], &dw = call.outputs[0];
  DS_RETURN_IF_ERROR(checkWeight(k, "weight_grad", dw));
  DS_RETURN_IF_ERROR(expectMinRank(k, "result_grad", dy, 1));
  DS_RETURN_IF_ERROR(expectMinRank(k, "input", x, 1));
  int64_t n = dw.dim(0), kDim = dw.dim(1), m = leadingRows(x);
  if (x.dim(-1) != kDim || dy.dim(-1) != n || leadingRows(dy) != m)
    return errorf(k, ": result_grad ", dy.shapeString(), " and input ", x.shapeString(),
                  " do not fit weight_grad ", dw.shapeString());
  LtOptions options;
  DS_RETURN_IF_ERROR(readLtMath(k, call.attrs, options.math));
  if (m == 0)
    return zeroFill(k, dw, streamOf(call));
  return ltMatmul(k, streamOf(call), kDim, n, m, {x.data, x.dtype, kDim, false},
                  {dy.data, dy.dtype, n, true}, dw.data, dw.dtype, kDim, options);
}

} // namespace ds::rt::cuda
