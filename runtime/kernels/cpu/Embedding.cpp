//===- Embedding.cpp - ds.embedding and ds.embedding_grad -----------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

namespace ds::rt::cpu {
namespace {

/// Ids index table rows; one outside [0, vocab) would read or write outside the table.
Status checkIds(const char *kernel, const int32_t *ids, int64_t count, int64_t vocab) {
  for (int64_t i = 0; i < count; ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      return errorf(kernel, ": ids[", i, "] = ", ids[i], " is outside the vocabulary [0, ", vocab,
                    ")");
  return Status::ok();
}

} // namespace

Status embedding(KernelCall &call) {
  const char *k = "embedding";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"ids", Elem::Index}, {"table", Elem::Float}},
                               {{"result", Elem::Float}}));
  const TensorView &ids = call.inputs[0], &table = call.inputs[1];
  DS_RETURN_IF_ERROR(expectMinRank(k, "table", table, 2));
  DS_RETURN_IF_ERROR(expectShape(k, "table", table, {table.dim(0), table.dim(1)}));
  int64_t vocab = table.dim(0), width = table.dim(1), count = ids.numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], count * width));
  const int32_t *id = ids.as<const int32_t>();
  DS_RETURN_IF_ERROR(checkIds(k, id, count, vocab));
  for (int64_t t = 0; t < count; ++t)
    copyElements(table, id[t] * width, call.outputs[0], t * width, width);
  return Status::ok();
}

Status embeddingGrad(KernelCall &call) {
  const char *k = "embedding_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"ids", Elem::Index}, {"result_grad", Elem::Float}},
                               {{"table_grad", Elem::Float}}));
  const TensorView &ids = call.inputs[0], &tableGradView = call.outputs[0];
  DS_RETURN_IF_ERROR(expectMinRank(k, "table_grad", tableGradView, 2));
  DS_RETURN_IF_ERROR(
      expectShape(k, "table_grad", tableGradView, {tableGradView.dim(0), tableGradView.dim(1)}));
  int64_t vocab = tableGradView.dim(0), width = tableGradView.dim(1);
  int64_t count = ids.numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[1], count * width));
  const int32_t *id = ids.as<const int32_t>();
  DS_RETURN_IF_ERROR(checkIds(k, id, count, vocab));
  FloatReader resultGrad(call.inputs[1]);
  FloatWriter tableGrad(tableGradView);
  tableGrad.fill(0.0f);
  // Tokens are added in their order, so a row that repeats sums in a fixed order.
  for (int64_t t = 0; t < count; ++t) {
    float *row = tableGrad.data() + id[t] * width;
    const float *grad = resultGrad.data() + t * width;
    for (int64_t j = 0; j < width; ++j)
      row[j] += grad[j];
  }
  return Status::ok();
}

} // namespace ds::rt::cpu
