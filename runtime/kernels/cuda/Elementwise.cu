//===- Elementwise.cu - swiglu, add, mul, scale, convert, fill ------------===//
//
// Memory-bound maps: the floor is one read of each input and one write of the result, so
// each kernel is a single grid-stride pass with FP32 math in registers. Where every tensor
// is 16-byte aligned, add, mul, swiglu and swiglu_grad move 8 elements per load and store
// (forEachElement): a scalar BF16 access moves 2 bytes per instruction. The math per
// element is the same either way, so are the results.
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

__device__ __forceinline__ float applyBinary(BinaryOp op, float a, float b) {
  return op == BinaryOp::Add ? a + b : a * b;
}

__global__ void binaryKernel(FloatIn lhs, FloatIn rhs, FloatOut out, int64_t n, BinaryOp op,
                             bool vector) {
  forEachElement(
      n, vector,
      [&](int64_t i) {
        float a[kVectorWidth], b[kVectorWidth], r[kVectorWidth];
        lhs.load8(i, a);
        rhs.load8(i, b);
#pragma unroll
        for (int u = 0; u < kVectorWidth; ++u)
          r[u] = applyBinary(op, a[u], b[u]);
        out.store8(i, r);
      },
      [&](int64_t i) { out.store(i, applyBinary(op, lhs[i], rhs[i])); });
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

__device__ __forceinline__ float swigluOf(float g, float u) { return g * sigmoid(g) * u; }

/// The gradients (d gate, d up) of one element.
__device__ __forceinline__ void swigluGradOf(float g, float u, float grad, float &dGate,
                                             float &dUp) {
  float s = sigmoid(g);
  dGate = grad * u * s * (1.0f + g * (1.0f - s));
  dUp = grad * g * s;
}

/// Where output element i (of [rows, half]) reads its gate in [rows, 2 * half].
__device__ __forceinline__ int64_t gateIndexOf(int64_t i, int64_t half) {
  int64_t row = i / half;
  return row * 2 * half + (i - row * half);
}

/// One thread per output element (or group of 8: `vector` needs half % 8 == 0, so a group
/// stays in one row); `half` is I, the width of each of gate and up.
__global__ void swigluKernel(FloatIn gateUp, FloatOut out, int64_t n, int64_t half,
                             bool vector) {
  forEachElement(
      n, vector,
      [&](int64_t i) {
        int64_t gate = gateIndexOf(i, half);
        float g[kVectorWidth], u[kVectorWidth], y[kVectorWidth];
        gateUp.load8(gate, g);
        gateUp.load8(gate + half, u);
#pragma unroll
        for (int k = 0; k < kVectorWidth; ++k)
          y[k] = swigluOf(g[k], u[k]);
        out.store8(i, y);
      },
      [&](int64_t i) {
        int64_t gate = gateIndexOf(i, half);
        out.store(i, swigluOf(gateUp[gate], gateUp[gate + half]));
      });
}

__global__ void swigluGradKernel(FloatIn gateUp, FloatIn dy, FloatOut dGateUp, int64_t n,
                                 int64_t half, bool vector) {
  forEachElement(
      n, vector,
      [&](int64_t i) {
        int64_t gate = gateIndexOf(i, half);
        float g[kVectorWidth], u[kVectorWidth], grad[kVectorWidth], dGate[kVectorWidth],
            dUp[kVectorWidth];
        gateUp.load8(gate, g);
        gateUp.load8(gate + half, u);
        dy.load8(i, grad);
#pragma unroll
        for (int k = 0; k < kVectorWidth; ++k)
          swigluGradOf(g[k], u[k], grad[k], dGate[k], dUp[k]);
        dGateUp.store8(gate, dGate);
        dGateUp.store8(gate + half, dUp);
      },
      [&](int64_t i) {
        int64_t gate = gateIndexOf(i, half);
        float dGate, dUp;
        swigluGradOf(gateUp[gate], gateUp[gate + half], dy[i], dGate, dUp);
        dGateUp.store(gate, dGate);
        dGateUp.store(gate + half, dUp);
      });
}

/// Whether every tensor of a call is 16-byte aligned (forEachElement's `vector`).
bool allVectorAligned(std::initializer_list<const TensorView *> tensors) {
  for (const TensorView *t : tensors)
    if (!isVectorAligned(t->data))
      return false;
  return true;
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
  bool vector = allVectorAligned({&lhs, &call.inputs[1], &call.outputs[0]});
  binaryKernel<<<gridFor(elementThreads(n, vector), kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(lhs), floatIn(call.inputs[1]), floatOut(call.outputs[0]), n, op, vector);
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
  bool vector = half % kVectorWidth == 0 && allVectorAligned({&call.inputs[0], &call.outputs[0]});
  swigluKernel<<<gridFor(elementThreads(n, vector), kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatOut(call.outputs[0]), n, half, vector);
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
  bool vector = half % kVectorWidth == 0 &&
                allVectorAligned({&call.inputs[0], &call.inputs[1], &call.outputs[0]});
  swigluGradKernel<<<gridFor(elementThreads(n, vector), kThreads), kThreads, 0,
                     streamOf(call)>>>(floatIn(call.inputs[0]), floatIn(call.inputs[1]),
                                       floatOut(call.outputs[0]), n, half, vector);
  return launchCheck(k, "swigluGradKernel");
}

} // namespace ds::rt::cuda
