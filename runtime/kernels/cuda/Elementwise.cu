//===- Elementwise.cu - swiglu, add, mul, scale, convert, fill ------------===//
//
// Memory-bound maps: the floor is one read of each input and one write of the result, so
// each kernel is a single grid-stride pass with FP32 math in registers.
//
// swiglu (Shazeer 2020): y = silu(g) * u over the halves [g | u] of the last dimension,
// silu(g) = g * sigmoid(g); backward dg = dy * u * sigmoid(g) * (1 + g * (1 - sigmoid(g))),
// du = dy * silu(g).
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 256;

enum class BinaryOp : int { Add, Mul };

__global__ void binaryKernel(FloatIn lhs, FloatIn rhs, FloatOut out, int64_t n, BinaryOp op) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float a = lhs[i], b = rhs[i];
    out.store(i, op == BinaryOp::Add ? a + b : a * b);
  }
}

__global__ void scaleKernel(FloatIn in, FloatOut out, int64_t n, float factor) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out.store(i, in[i] * factor);
}

__global__ void convertKernel(FloatIn in, FloatOut out, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out.store(i, in[i]);
}

__global__ void fillFloatKernel(FloatOut out, int64_t n, float value) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out.store(i, value);
}

__global__ void fillIntKernel(int32_t *out, int64_t n, int32_t value) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = value;
}

__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

/// One thread per output element; `half` is I, the width of each of gate and up.
__global__ void swigluKernel(FloatIn gateUp, FloatOut out, int64_t n, int64_t half) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = i / half, j = i - row * half;
    float g = gateUp[row * 2 * half + j], u = gateUp[row * 2 * half + half + j];
    out.store(i, g * sigmoid(g) * u);
  }
}

__global__ void swigluGradKernel(FloatIn gateUp, FloatIn dy, FloatOut dGateUp, int64_t n,
                                 int64_t half) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = i / half, j = i - row * half;
    int64_t gateIndex = row * 2 * half + j;
    float g = gateUp[gateIndex], u = gateUp[gateIndex + half], grad = dy[i];
    float s = sigmoid(g);
    dGateUp.store(gateIndex, grad * u * s * (1.0f + g * (1.0f - s)));
    dGateUp.store(gateIndex + half, grad * g * s);
  }
}

Status binary(KernelCall &call, const char *k, BinaryOp op) {
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"lhs", Elem::Float}, {"rhs", Elem::Float}},
                               {{"result", Elem::Float}}));
  const TensorView &lhs = call.inputs[0];
  DS_RETURN_IF_ERROR(expectShape(k, "rhs", call.inputs[1], lhs.shape));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], lhs.shape));
  int64_t n = lhs.numElements();
  if (n == 0)
    return Status::ok();
  binaryKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(lhs), floatIn(call.inputs[1]), floatOut(call.outputs[0]), n, op);
  return launchCheck(k, "binaryKernel");
}

Status checkSwigluInput(const char *k, const TensorView &gateUp, int64_t &half) {
  DS_RETURN_IF_ERROR(expectMinRank(k, "gate_up", gateUp, 1));
  if (gateUp.dim(-1) % 2 != 0)
    return errorf(k, ": gate_up has shape ", gateUp.shapeString(),
                  ", expected an even last dimension");
  half = gateUp.dim(-1) / 2;
  return Status::ok();
}

} // namespace

Status add(KernelCall &call) { return binary(call, "add", BinaryOp::Add); }
Status mul(KernelCall &call) { return binary(call, "mul", BinaryOp::Mul); }

Status scale(KernelCall &call) {
  const char *k = "scale";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  double factor;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "factor", factor));
  int64_t n = call.inputs[0].numElements();
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[0].shape));
  if (n == 0)
    return Status::ok();
  scaleKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatOut(call.outputs[0]), n, float(factor));
  return launchCheck(k, "scaleKernel");
}

Status convert(KernelCall &call) {
  const char *k = "convert";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  int64_t n = call.inputs[0].numElements();
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], call.inputs[0].shape));
  if (n == 0)
    return Status::ok();
  convertKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatOut(call.outputs[0]), n);
  return launchCheck(k, "convertKernel");
}

Status fill(KernelCall &call) {
  const char *k = "fill";
  DS_RETURN_IF_ERROR(checkCall(call, k, {}, {{"result", Elem::Any}}));
  double value;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "value", value));
  const TensorView &out = call.outputs[0];
  int64_t n = out.numElements();
  if (n == 0)
    return Status::ok();
  unsigned grid = gridFor(n, kThreads);
  if (out.dtype == DType::I32)
    fillIntKernel<<<grid, kThreads, 0, streamOf(call)>>>(out.as<int32_t>(), n,
                                                         int32_t(value));
  else if (out.dtype == DType::F32 || out.dtype == DType::BF16)
    fillFloatKernel<<<grid, kThreads, 0, streamOf(call)>>>(floatOut(out), n, float(value));
  else
    return errorf(k, ": result has dtype ", dtypeName(out.dtype), ", expected f32, bf16 or i32");
  return launchCheck(k, "fillKernel");
}

Status swiglu(KernelCall &call) {
  const char *k = "swiglu";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"gate_up", Elem::Float}}, {{"result", Elem::Float}}));
  int64_t half;
  DS_RETURN_IF_ERROR(checkSwigluInput(k, call.inputs[0], half));
  int64_t n = call.inputs[0].numElements() / 2;
  std::vector<int64_t> halved = call.inputs[0].shape;
  halved.back() = half;
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], halved));
  if (n == 0)
    return Status::ok();
  swigluKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatOut(call.outputs[0]), n, half);
  return launchCheck(k, "swigluKernel");
}

Status swigluGrad(KernelCall &call) {
  const char *k = "swiglu_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"gate_up", Elem::Float}, {"result_grad", Elem::Float}},
                               {{"gate_up_grad", Elem::Float}}));
  int64_t half;
  DS_RETURN_IF_ERROR(checkSwigluInput(k, call.inputs[0], half));
  int64_t n = call.inputs[0].numElements() / 2;
  std::vector<int64_t> halved = call.inputs[0].shape;
  halved.back() = half;
  DS_RETURN_IF_ERROR(expectShape(k, "result_grad", call.inputs[1], halved));
  DS_RETURN_IF_ERROR(expectShape(k, "gate_up_grad", call.outputs[0], call.inputs[0].shape));
  if (n == 0)
    return Status::ok();
  swigluGradKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatIn(call.inputs[1]), floatOut(call.outputs[0]), n, half);
  return launchCheck(k, "swigluGradKernel");
}

} // namespace ds::rt::cuda
