//===- Shape.cpp - slice, concat, reshape, expand and their gradients -----===//
//
// Data movement only: every element is copied (converted between F32 and BF16 when the
// two sides differ), never computed, except expand_grad whose sums run in double in
// row-major order of the gradient. slice and reshape also move i32 and f8 tensors (e.g. the
// token window), which must then keep their dtype.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>

namespace ds::rt::cpu {
namespace {

bool isFloat(DType d) { return d == DType::F32 || d == DType::BF16; }

Status checkCopyable(const char *k, const TensorView &from, const TensorView &to) {
  if (from.dtype == to.dtype || (isFloat(from.dtype) && isFloat(to.dtype)))
    return Status::ok();
  return errorf(k, ": cannot copy ", dtypeName(from.dtype), " elements into a ",
                dtypeName(to.dtype), " result");
}

/// Resolves a possibly negative dimension attribute against `rank`.
Status readDim(const char *k, const KernelAttrs &attrs, int64_t rank, int64_t &dim) {
  DS_RETURN_IF_ERROR(requireInt(attrs, k, "dim", dim));
  if (dim < 0)
    dim += rank;
  if (dim < 0 || dim >= rank)
    return errorf(k, ": dim ", attrs.getInt("dim"), " is outside a rank-", rank, " tensor");
  return Status::ok();
}

/// The shape `whole` with dimension `dim` replaced by `size`.
std::vector<int64_t> withDim(std::vector<int64_t> whole, int64_t dim, int64_t size) {
  whole[dim] = size;
  return whole;
}

/// Reads slice attributes against the full tensor `whole`; `part` is the slice.
Status readSlice(const char *k, const KernelAttrs &attrs, const TensorView &whole, int64_t partSize,
                 int64_t &dim, int64_t &offset) {
  DS_RETURN_IF_ERROR(requireInt(attrs, k, "offset", offset));
  if (offset < 0 || offset + partSize > whole.dim(dim))
    return errorf(k, ": the range [", offset, ", ", offset + partSize, ") of dim ", dim,
                  " is outside ", whole.shapeString());
  return Status::ok();
}

/// Input element strides for broadcasting `in` to `out` (right-aligned, as numpy): 0 along
/// the dimensions that expand.
Status broadcastStrides(const char *k, const TensorView &in, const TensorView &out,
                        std::vector<int64_t> &strides) {
  if (in.rank() > out.rank())
    return errorf(k, ": cannot expand ", in.shapeString(), " to ", out.shapeString());
  strides.assign(out.rank(), 0);
  int64_t stride = 1, lead = out.rank() - in.rank();
  for (int64_t d = in.rank() - 1; d >= 0; --d) {
    if (in.dim(d) != out.dim(d + lead) && in.dim(d) != 1)
      return errorf(k, ": cannot expand ", in.shapeString(), " to ", out.shapeString(),
                    ": dimension ", d, " is neither 1 nor ", out.dim(d + lead));
    strides[d + lead] = in.dim(d) == 1 ? 0 : stride;
    stride *= in.dim(d);
  }
  return Status::ok();
}

/// Calls fn(outIndex, inIndex) for every element of `out` in row-major order.
template <typename Fn>
void forEachBroadcast(const TensorView &out, const std::vector<int64_t> &strides, Fn fn) {
  int64_t n = out.numElements(), rank = out.rank();
  std::vector<int64_t> index(rank, 0);
  int64_t inIndex = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(i, inIndex);
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++index[d] < out.dim(d)) {
        inIndex += strides[d];
        break;
      }
      inIndex -= strides[d] * (out.dim(d) - 1);
      index[d] = 0;
    }
  }
}

} // namespace

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
  DS_RETURN_IF_ERROR(readSlice(k, call.attrs, input, size, dim, offset));
  DS_RETURN_IF_ERROR(expectShape(k, "result", result, withDim(input.shape, dim, size)));
  int64_t outer = product(input.shape, 0, dim);
  int64_t inner = product(input.shape, dim + 1, input.rank());
  for (int64_t o = 0; o < outer; ++o)
    copyElements(input, (o * input.dim(dim) + offset) * inner, result, o * size * inner,
                 size * inner);
  return Status::ok();
}

Status sliceGrad(KernelCall &call) {
  const char *k = "slice_grad";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"result_grad", Elem::Float}}, {{"input_grad", Elem::Float}}));
  const TensorView &resultGradView = call.inputs[0], &inputGradView = call.outputs[0];
  int64_t dim, offset;
  DS_RETURN_IF_ERROR(readDim(k, call.attrs, inputGradView.rank(), dim));
  if (resultGradView.rank() != inputGradView.rank())
    return errorf(k, ": result_grad ", resultGradView.shapeString(), " and input_grad ",
                  inputGradView.shapeString(), " differ in rank");
  int64_t size = resultGradView.dim(dim);
  DS_RETURN_IF_ERROR(readSlice(k, call.attrs, inputGradView, size, dim, offset));
  DS_RETURN_IF_ERROR(
      expectShape(k, "result_grad", resultGradView, withDim(inputGradView.shape, dim, size)));
  FloatReader resultGrad(resultGradView);
  FloatWriter inputGrad(inputGradView);
  inputGrad.fill(0.0f);
  int64_t outer = product(inputGradView.shape, 0, dim);
  int64_t inner = product(inputGradView.shape, dim + 1, inputGradView.rank());
  for (int64_t o = 0; o < outer; ++o)
    std::copy_n(resultGrad.data() + o * size * inner, size * inner,
                inputGrad.data() + (o * inputGradView.dim(dim) + offset) * inner);
  return Status::ok();
}

Status concat(KernelCall &call) {
  const char *k = "concat";
  if (call.inputs.empty())
    return errorf(k, ": expected at least one input");
  for (const TensorView &input : call.inputs)
    DS_RETURN_IF_ERROR(checkOperand(k, {"inputs", Elem::Float}, input));
  if (call.outputs.size() != 1)
    return errorf(k, ": expected 1 output but got ", call.outputs.size());
  DS_RETURN_IF_ERROR(checkOperand(k, {"result", Elem::Float}, call.outputs[0]));
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
  for (int64_t o = 0; o < outer; ++o) {
    int64_t at = o * result.dim(dim) * inner;
    for (const TensorView &input : call.inputs) {
      int64_t chunk = input.dim(dim) * inner;
      copyElements(input, o * chunk, result, at, chunk);
      at += chunk;
    }
  }
  return Status::ok();
}

Status reshape(KernelCall &call) {
  const char *k = "reshape";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Any}}, {{"result", Elem::Any}}));
  const TensorView &input = call.inputs[0], &result = call.outputs[0];
  DS_RETURN_IF_ERROR(checkCopyable(k, input, result));
  DS_RETURN_IF_ERROR(expectElements(k, "result", result, input.numElements()));
  copyElements(input, 0, result, 0, input.numElements());
  return Status::ok();
}

Status expand(KernelCall &call) {
  const char *k = "expand";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Float}}, {{"result", Elem::Float}}));
  std::vector<int64_t> strides;
  DS_RETURN_IF_ERROR(broadcastStrides(k, call.inputs[0], call.outputs[0], strides));
  FloatReader input(call.inputs[0]);
  FloatWriter result(call.outputs[0]);
  forEachBroadcast(call.outputs[0], strides,
                   [&](int64_t out, int64_t in) { result[out] = input[in]; });
  return Status::ok();
}

Status expandGrad(KernelCall &call) {
  const char *k = "expand_grad";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"result_grad", Elem::Float}}, {{"input_grad", Elem::Float}}));
  std::vector<int64_t> strides;
  DS_RETURN_IF_ERROR(broadcastStrides(k, call.outputs[0], call.inputs[0], strides));
  FloatReader resultGrad(call.inputs[0]);
  std::vector<double> sums(call.outputs[0].numElements(), 0.0);
  forEachBroadcast(call.inputs[0], strides,
                   [&](int64_t out, int64_t in) { sums[in] += resultGrad[out]; });
  FloatWriter inputGrad(call.outputs[0]);
  for (size_t i = 0; i < sums.size(); ++i)
    inputGrad[i] = static_cast<float>(sums[i]);
  return Status::ok();
}

} // namespace ds::rt::cpu
