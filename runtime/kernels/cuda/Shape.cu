//===- Shape.cu - copy, slice, concat, reshape, expand and their gradients ===//
//
// Data movement with the CPU reference's rules (cpu/Shape.cpp, cpu/Fill.cpp's copy).
// Every slice/concat/reshape/copy is a set of equal-length rows copied from one pitch to
// another: when both sides share a dtype it is one cudaMemcpy2DAsync (the copy engines
// move it, any dtype: i32 token windows and f8 included); when F32 meets BF16 a kernel
// converts element by element, rounding to nearest even like the CPU's floatToBf16.
// expand maps each result element to its source through broadcast strides; expand_grad
// gives each input-gradient element one thread that sums, in double and in the result's
// row-major order, every result element broadcast from it: the CPU's order, no atomics,
// bit-reproducible.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"

#include <vector>

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxRank = 8;

bool isFloat(DType d) { return d == DType::F32 || d == DType::BF16; }

Status checkCopyable(const char *k, const TensorView &from, const TensorView &to) {
  if (from.dtype == to.dtype || (isFloat(from.dtype) && isFloat(to.dtype)))
    return Status::ok();
  return errorf(k, ": cannot copy ", dtypeName(from.dtype), " elements into a ",
                dtypeName(to.dtype), " result");
}

Status readDim(const char *k, const KernelAttrs &attrs, int64_t rank, int64_t &dim) {
  DS_RETURN_IF_ERROR(requireInt(attrs, k, "dim", dim));
  if (dim < 0)
    dim += rank;
  if (dim < 0 || dim >= rank)
    return errorf(k, ": dim ", attrs.getInt("dim"), " is outside a rank-", rank, " tensor");
  return Status::ok();
}

std::vector<int64_t> withDim(std::vector<int64_t> whole, int64_t dim, int64_t size) {
  whole[dim] = size;
  return whole;
}

Status readOffset(const char *k, const KernelAttrs &attrs, const TensorView &whole,
                  int64_t partSize, int64_t dim, int64_t &offset) {
  DS_RETURN_IF_ERROR(requireInt(attrs, k, "offset", offset));
  if (offset < 0 || offset + partSize > whole.dim(dim))
    return errorf(k, ": the range [", offset, ", ", offset + partSize, ") of dim ", dim,
                  " is outside ", whole.shapeString());
  return Status::ok();
}

__global__ void convertRowsKernel(FloatIn src, int64_t srcPitch, FloatOut dst, int64_t dstPitch,
                                  int64_t rows, int64_t width) {
  int64_t n = rows * width;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = i / width, col = i % width;
    dst.store(row * dstPitch + col, src[row * srcPitch + col]);
  }
}

/// Copies `rows` rows of `width` elements from `src` (element `srcStart`, rows `srcPitch`
/// elements apart) to `dst` likewise. Pitches and starts are in elements.
Status copyRows(const char *k, cudaStream_t stream, const TensorView &src, int64_t srcStart,
                int64_t srcPitch, const TensorView &dst, int64_t dstStart, int64_t dstPitch,
                int64_t rows, int64_t width) {
  if (rows == 0 || width == 0)
    return Status::ok();
  if (src.dtype == dst.dtype) {
    size_t es = dtypeSize(src.dtype);
    return cudaCheck(cudaMemcpy2DAsync(static_cast<uint8_t *>(dst.data) + dstStart * es,
                                       dstPitch * es,
                                       static_cast<const uint8_t *>(src.data) + srcStart * es,
                                       srcPitch * es, width * es, rows,
                                       cudaMemcpyDeviceToDevice, stream),
                     k, "cudaMemcpy2DAsync");
  }
  FloatIn in = floatIn(src);
  FloatOut out = floatOut(dst);
  in.data = static_cast<const uint8_t *>(src.data) + srcStart * dtypeSize(src.dtype);
  out.data = static_cast<uint8_t *>(dst.data) + dstStart * dtypeSize(dst.dtype);
  convertRowsKernel<<<gridFor(rows * width, kThreads), kThreads, 0, stream>>>(
      in, srcPitch, out, dstPitch, rows, width);
  return launchCheck(k, "convertRowsKernel");
}

/// Result shape and, per result dimension, the input's element stride (0 where it
/// broadcasts), right-aligned as numpy.
struct Broadcast {
  int rank;
  int64_t outDims[kMaxRank];
  int64_t outStrides[kMaxRank];
  int64_t inStrides[kMaxRank];
};

Status readBroadcast(const char *k, const TensorView &in, const TensorView &out, Broadcast &b) {
  if (in.rank() > out.rank())
    return errorf(k, ": cannot expand ", in.shapeString(), " to ", out.shapeString());
  if (out.rank() > kMaxRank)
    return errorf(k, ": rank ", out.rank(), " exceeds the CUDA kernel's limit of ", kMaxRank);
  b.rank = static_cast<int>(out.rank());
  int64_t lead = out.rank() - in.rank(), stride = 1, outStride = 1;
  for (int64_t d = out.rank() - 1; d >= 0; --d) {
    b.outDims[d] = out.dim(d);
    b.outStrides[d] = outStride;
    outStride *= out.dim(d);
    b.inStrides[d] = 0;
    if (d < lead)
      continue;
    int64_t inDim = in.dim(d - lead);
    if (inDim != out.dim(d) && inDim != 1)
      return errorf(k, ": cannot expand ", in.shapeString(), " to ", out.shapeString(),
                    ": dimension ", d - lead, " is neither 1 nor ", out.dim(d));
    b.inStrides[d] = inDim == 1 ? 0 : stride;
    stride *= inDim;
  }
  return Status::ok();
}

__global__ void expandKernel(FloatIn input, FloatOut result, int64_t n, Broadcast b) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, from = 0;
    for (int d = b.rank - 1; d >= 0; --d) {
      from += (rest % b.outDims[d]) * b.inStrides[d];
      rest /= b.outDims[d];
    }
    result.store(i, input[from]);
  }
}

/// One thread per input-gradient element `i`. Its result elements are those whose
/// non-broadcast coordinates spell `i`; the loop walks the broadcast coordinates in
/// row-major order, which is the order the CPU adds them in.
__global__ void expandGradKernel(FloatIn resultGrad, FloatOut inputGrad, int64_t inputElements,
                                 int64_t perInput, Broadcast b) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < inputElements;
       i += int64_t(gridDim.x) * blockDim.x) {
    // The result offset of the input element's own coordinates.
    int64_t base = 0, rest = i;
    for (int d = b.rank - 1; d >= 0; --d) {
      if (b.inStrides[d] == 0)
        continue;
      int64_t inDim = b.outDims[d];
      base += (rest % inDim) * b.outStrides[d];
      rest /= inDim;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < perInput; ++j) {
      int64_t offset = base, r = j;
      for (int d = b.rank - 1; d >= 0; --d) {
        if (b.inStrides[d] != 0)
          continue;
        offset += (r % b.outDims[d]) * b.outStrides[d];
        r /= b.outDims[d];
      }
      sum += resultGrad[offset];
    }
    inputGrad.store(i, static_cast<float>(sum));
  }
}

} // namespace

Status copy(KernelCall &call) {
  const char *k = "copy";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Any}}, {{"result", Elem::Any}}));
  const TensorView &input = call.inputs[0], &result = call.outputs[0];
  if (input.dtype != result.dtype)
    return errorf("copy: input is ", input.shapeString(), " but result is ", result.shapeString(),
                  "; copy does not convert");
  DS_RETURN_IF_ERROR(expectShape(k, "result", result, input.shape));
  if (input.data == result.data || input.sizeInBytes() == 0)
    return Status::ok();
  return cudaCheck(cudaMemcpyAsync(result.data, input.data, input.sizeInBytes(),
                                   cudaMemcpyDeviceToDevice, streamOf(call)),
                   k, "cudaMemcpyAsync");
}

Status slice(KernelCall &call) {
  const char *k = "slice";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Any}}, {{"result", Elem::Any}}));
  const TensorView &input = call.inputs[0], &result = call.outputs[0];
  DS_RETURN_IF_ERROR(checkCopyable(k, input, result));
  int64_t dim, offset, size;
  DS_RETURN_IF_ERROR(readDim(k, call.attrs, input.rank(), dim));
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "size", size));
  if (size < 0)
    return errorf(k, ": size ", size, " is negative");
  DS_RETURN_IF_ERROR(readOffset(k, call.attrs, input, size, dim, offset));
  DS_RETURN_IF_ERROR(expectShape(k, "result", result, withDim(input.shape, dim, size)));
  int64_t outer = product(input.shape, 0, dim);
  int64_t inner = product(input.shape, dim + 1, input.rank());
  return copyRows(k, streamOf(call), input, offset * inner, input.dim(dim) * inner, result, 0,
                  size * inner, outer, size * inner);
}

Status sliceGrad(KernelCall &call) {
  const char *k = "slice_grad";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"result_grad", Elem::Float}}, {{"input_grad", Elem::Float}}));
  const TensorView &resultGrad = call.inputs[0], &inputGrad = call.outputs[0];
  int64_t dim, offset;
  DS_RETURN_IF_ERROR(readDim(k, call.attrs, inputGrad.rank(), dim));
  if (resultGrad.rank() != inputGrad.rank())
    return errorf(k, ": result_grad ", resultGrad.shapeString(), " and input_grad ",
                  inputGrad.shapeString(), " differ in rank");
  int64_t size = resultGrad.dim(dim);
  DS_RETURN_IF_ERROR(readOffset(k, call.attrs, inputGrad, size, dim, offset));
  DS_RETURN_IF_ERROR(expectShape(k, "result_grad", resultGrad, withDim(inputGrad.shape, dim, size)));
  // Zero bits are 0.0 in F32 and BF16 alike.
  DS_RETURN_IF_ERROR(cudaCheck(
      cudaMemsetAsync(inputGrad.data, 0, inputGrad.sizeInBytes(), streamOf(call)), k,
      "cudaMemsetAsync"));
  int64_t outer = product(inputGrad.shape, 0, dim);
  int64_t inner = product(inputGrad.shape, dim + 1, inputGrad.rank());
  return copyRows(k, streamOf(call), resultGrad, 0, size * inner, inputGrad, offset * inner,
                  inputGrad.dim(dim) * inner, outer, size * inner);
}

Status concat(KernelCall &call) {
  const char *k = "concat";
  if (call.inputs.empty())
    return errorf(k, ": expected at least one input");
  for (const TensorView &input : call.inputs)
    DS_RETURN_IF_ERROR(cpu::checkOperand(k, {"inputs", Elem::Float}, input));
  if (call.outputs.size() != 1)
    return errorf(k, ": expected 1 output but got ", call.outputs.size());
  DS_RETURN_IF_ERROR(cpu::checkOperand(k, {"result", Elem::Float}, call.outputs[0]));
  const TensorView &result = call.outputs[0];
  int64_t dim;
  DS_RETURN_IF_ERROR(readDim(k, call.attrs, result.rank(), dim));
  int64_t total = 0;
  for (const TensorView &input : call.inputs) {
    if (input.rank() != result.rank())
      return errorf(k, ": input ", input.shapeString(), " and result ", result.shapeString(),
                    " differ in rank");
    DS_RETURN_IF_ERROR(expectShape(k, "inputs", input, withDim(result.shape, dim, input.dim(dim))));
    total += input.dim(dim);
  }
  if (total != result.dim(dim))
    return errorf(k, ": inputs add up to ", total, " along dim ", dim, " but result is ",
                  result.shapeString());
  int64_t outer = product(result.shape, 0, dim);
  int64_t inner = product(result.shape, dim + 1, result.rank());
  int64_t at = 0;
  for (const TensorView &input : call.inputs) {
    int64_t chunk = input.dim(dim) * inner;
    DS_RETURN_IF_ERROR(copyRows(k, streamOf(call), input, 0, chunk, result, at,
                                result.dim(dim) * inner, outer, chunk));
    at += chunk;
  }
  return Status::ok();
}

Status reshape(KernelCall &call) {
  const char *k = "reshape";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Any}}, {{"result", Elem::Any}}));
  const TensorView &input = call.inputs[0], &result = call.outputs[0];
  DS_RETURN_IF_ERROR(checkCopyable(k, input, result));
  DS_RETURN_IF_ERROR(expectElements(k, "result", result, input.numElements()));
  return copyRows(k, streamOf(call), input, 0, input.numElements(), result, 0,
                  input.numElements(), 1, input.numElements());
}

Status expand(KernelCall &call) {
  const char *k = "expand";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  Broadcast b;
  DS_RETURN_IF_ERROR(readBroadcast(k, call.inputs[0], call.outputs[0], b));
  int64_t n = call.outputs[0].numElements();
  if (n == 0)
    return Status::ok();
  expandKernel<<<gridFor(n, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatOut(call.outputs[0]), n, b);
  return launchCheck(k, "expandKernel");
}

Status expandGrad(KernelCall &call) {
  const char *k = "expand_grad";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"result_grad", Elem::Float}}, {{"input_grad", Elem::Float}}));
  Broadcast b;
  DS_RETURN_IF_ERROR(readBroadcast(k, call.outputs[0], call.inputs[0], b));
  int64_t inputElements = call.outputs[0].numElements();
  if (inputElements == 0)
    return Status::ok();
  int64_t perInput = call.inputs[0].numElements() / inputElements;
  expandGradKernel<<<gridFor(inputElements, kThreads), kThreads, 0, streamOf(call)>>>(
      floatIn(call.inputs[0]), floatOut(call.outputs[0]), inputElements, perInput, b);
  return launchCheck(k, "expandGradKernel");
}

} // namespace ds::rt::cuda
