//===- Permute.cpp - ds.dispatch, ds.combine and their gradients ----------===//
//
// dispatch sorts the T*K (token, slot) pairs by expert with a stable counting sort, so
// that expert e's rows are contiguous and ordered by (token, slot); positions[t, k] says
// where the pair landed. combine is the weighted inverse; the two gradients are the
// transposed gathers and scatters. Positions and expert indices come from routing at run
// time and are checked before any memory is touched.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <algorithm>

namespace ds::rt::cpu {
namespace {

Status checkSlots(const char *kernel, const char *name, const TensorView &t, int64_t tokens,
                  int64_t &topK) {
  if (t.rank() != 2 || t.dim(0) != tokens)
    return errorf(kernel, ": ", name, " has shape ", t.shapeString(), ", expected [", tokens,
                  ", K]");
  topK = t.dim(1);
  return Status::ok();
}

Status checkPositions(const char *kernel, const TensorView &positions, int64_t rows) {
  const int32_t *p = positions.as<const int32_t>();
  int64_t topK = positions.dim(1);
  for (int64_t i = 0; i < positions.numElements(); ++i)
    if (p[i] < 0 || p[i] >= rows)
      return errorf(kernel, ": positions[", i / topK, ", ", i % topK, "] = ", p[i],
                    " is outside the ", rows, " permuted rows");
  return Status::ok();
}

} // namespace

Status dispatch(KernelCall &call) {
  const char *k = "dispatch";
  DS_RETURN_IF_ERROR(
      checkCall(call, k, {{"input", Elem::Float}, {"indices", Elem::Index}},
                {{"permuted", Elem::Float}, {"counts", Elem::Index}, {"positions", Elem::Index}}));
  int64_t experts, tokens, width, topK;
  DS_RETURN_IF_ERROR(requireInt(call.attrs, k, "num_experts", experts));
  const TensorView &input = call.inputs[0], &indicesView = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMatrix(k, "input", input, "[rows, D]", tokens, width));
  DS_RETURN_IF_ERROR(checkSlots(k, "indices", indicesView, tokens, topK));
  DS_RETURN_IF_ERROR(expectShape(k, "permuted", call.outputs[0], {tokens * topK, width}));
  DS_RETURN_IF_ERROR(expectShape(k, "counts", call.outputs[1], {experts}));
  DS_RETURN_IF_ERROR(expectShape(k, "positions", call.outputs[2], {tokens, topK}));
  const int32_t *indices = indicesView.as<const int32_t>();
  std::vector<int64_t> next(experts + 1, 0); // counts, then start offsets
  for (int64_t i = 0; i < tokens * topK; ++i) {
    if (indices[i] < 0 || indices[i] >= experts)
      return errorf(k, ": indices[", i / topK, ", ", i % topK, "] = ", indices[i],
                    " is outside [0, ", experts, ")");
    ++next[indices[i] + 1];
  }
  int32_t *counts = call.outputs[1].as<int32_t>();
  for (int64_t e = 0; e < experts; ++e) {
    counts[e] = static_cast<int32_t>(next[e + 1]);
    next[e + 1] += next[e];
  }
  int32_t *positions = call.outputs[2].as<int32_t>();
  for (int64_t i = 0; i < tokens * topK; ++i) {
    int64_t row = next[indices[i]]++;
    positions[i] = static_cast<int32_t>(row);
    copyElements(input, (i / topK) * width, call.outputs[0], row * width, width);
  }
  return Status::ok();
}

Status dispatchGrad(KernelCall &call) {
  const char *k = "dispatch_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"permuted_grad", Elem::Float}, {"positions", Elem::Index}},
                               {{"input_grad", Elem::Float}}));
  int64_t rows, width, tokens, topK;
  DS_RETURN_IF_ERROR(expectMatrix(k, "permuted_grad", call.inputs[0], "[rows, D]", rows, width));
  const TensorView &positionsView = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMatrix(k, "positions", positionsView, "[T, K]", tokens, topK));
  DS_RETURN_IF_ERROR(expectShape(k, "input_grad", call.outputs[0], {tokens, width}));
  DS_RETURN_IF_ERROR(checkPositions(k, positionsView, rows));
  FloatReader permutedGrad(call.inputs[0]);
  FloatWriter inputGrad(call.outputs[0]);
  const int32_t *positions = positionsView.as<const int32_t>();
  for (int64_t t = 0; t < tokens; ++t) {
    float *dx = inputGrad.data() + t * width;
    std::fill(dx, dx + width, 0.0f);
    for (int64_t slot = 0; slot < topK; ++slot) {
      const float *g = permutedGrad.data() + positions[t * topK + slot] * width;
      for (int64_t j = 0; j < width; ++j)
        dx[j] += g[j];
    }
  }
  return Status::ok();
}

Status combine(KernelCall &call) {
  const char *k = "combine";
  DS_RETURN_IF_ERROR(checkCall(
      call, k, {{"input", Elem::Float}, {"positions", Elem::Index}, {"weights", Elem::Float}},
      {{"result", Elem::Float}}));
  int64_t rows, width, tokens, topK;
  DS_RETURN_IF_ERROR(expectMatrix(k, "input", call.inputs[0], "[rows, D]", rows, width));
  const TensorView &positionsView = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMatrix(k, "positions", positionsView, "[T, K]", tokens, topK));
  DS_RETURN_IF_ERROR(expectShape(k, "weights", call.inputs[2], {tokens, topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "result", call.outputs[0], {tokens, width}));
  DS_RETURN_IF_ERROR(checkPositions(k, positionsView, rows));
  FloatReader input(call.inputs[0]), weights(call.inputs[2]);
  FloatWriter result(call.outputs[0]);
  const int32_t *positions = positionsView.as<const int32_t>();
  for (int64_t t = 0; t < tokens; ++t) {
    float *y = result.data() + t * width;
    std::fill(y, y + width, 0.0f);
    for (int64_t slot = 0; slot < topK; ++slot) {
      float w = weights[t * topK + slot];
      const float *x = input.data() + positions[t * topK + slot] * width;
      for (int64_t j = 0; j < width; ++j)
        y[j] += w * x[j];
    }
  }
  return Status::ok();
}

Status combineGrad(KernelCall &call) {
  const char *k = "combine_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k,
                               {{"result_grad", Elem::Float},
                                {"input", Elem::Float},
                                {"positions", Elem::Index},
                                {"weights", Elem::Float}},
                               {{"input_grad", Elem::Float}, {"weights_grad", Elem::Float}}));
  int64_t tokens, width, rows, inputWidth, topK;
  DS_RETURN_IF_ERROR(expectMatrix(k, "result_grad", call.inputs[0], "[rows, D]", tokens, width));
  DS_RETURN_IF_ERROR(expectMatrix(k, "input", call.inputs[1], "[rows, D]", rows, inputWidth));
  if (inputWidth != width)
    return errorf(k, ": input has shape ", call.inputs[1].shapeString(),
                  " but result_grad has rows of ", width);
  DS_RETURN_IF_ERROR(checkSlots(k, "positions", call.inputs[2], tokens, topK));
  DS_RETURN_IF_ERROR(expectShape(k, "weights", call.inputs[3], {tokens, topK}));
  DS_RETURN_IF_ERROR(expectShape(k, "input_grad", call.outputs[0], {rows, width}));
  DS_RETURN_IF_ERROR(expectShape(k, "weights_grad", call.outputs[1], {tokens, topK}));
  DS_RETURN_IF_ERROR(checkPositions(k, call.inputs[2], rows));
  FloatReader resultGrad(call.inputs[0]), input(call.inputs[1]), weights(call.inputs[3]);
  FloatWriter inputGrad(call.outputs[0]), weightsGrad(call.outputs[1]);
  const int32_t *positions = call.inputs[2].as<const int32_t>();
  // Rows no slot points at get zero; a row reached twice sums in (token, slot) order.
  inputGrad.fill(0.0f);
  for (int64_t t = 0; t < tokens; ++t) {
    const float *dy = resultGrad.data() + t * width;
    for (int64_t slot = 0; slot < topK; ++slot) {
      int64_t row = positions[t * topK + slot];
      float w = weights[t * topK + slot];
      const float *x = input.data() + row * width;
      float *dx = inputGrad.data() + row * width;
      double dot = 0.0;
      for (int64_t j = 0; j < width; ++j) {
        dx[j] += w * dy[j];
        dot += static_cast<double>(dy[j]) * x[j];
      }
      weightsGrad[t * topK + slot] = static_cast<float>(dot);
    }
  }
  return Status::ok();
}

} // namespace ds::rt::cpu
