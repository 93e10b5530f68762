//===- Embedding.cu - ds.embedding and ds.embedding_grad ------------------===//
//
// Forward: a row gather, memory-bound (one read of each selected row, one write).
//
// Backward: table_grad[v] = sum of the output-gradient rows of the tokens whose id is v,
// a deterministic sorted scatter-add (SortedScatter.h) that adds a repeated id's rows in
// token order, as the CPU reference does, instead of run-to-run-varying atomics.
//
// Ids are checked on the host by the CPU kernel; here that would cost a device-to-host
// sync, so an id outside [0, V) yields a NaN row forward (visible in the loss) and is
// skipped backward.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cuda/CudaDevice.cuh"
#include "runtime/kernels/cuda/CudaKernels.h"
#include "runtime/kernels/cuda/CudaSupport.h"
#include "runtime/kernels/cuda/SortedScatter.h"

namespace ds::rt::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void gatherKernel(const int32_t *ids, FloatIn table, FloatOut out, int64_t count,
                             int64_t vocab, int64_t width) {
  for (int64_t t = blockIdx.x; t < count; t += gridDim.x) {
    int32_t id = ids[t];
    bool valid = id >= 0 && id < vocab;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x)
      out.store(t * width + j, valid ? table[int64_t(id) * width + j] : NAN);
  }
}

} // namespace

Status embedding(KernelCall &call) {
  const char *k = "embedding";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"ids", Elem::Index}, {"table", Elem::Float}},
                               {{"result", Elem::Float}}));
  const TensorView &ids = call.inputs[0], &table = call.inputs[1];
  if (table.rank() != 2)
    return errorf(k, ": table has shape ", table.shapeString(), ", expected [V, D]");
  int64_t vocab = table.dim(0), width = table.dim(1), count = ids.numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result", call.outputs[0], count * width));
  if (count == 0 || width == 0)
    return Status::ok();
  gatherKernel<<<gridFor(count * kThreads, kThreads), kThreads, 0, streamOf(call)>>>(
      ids.as<const int32_t>(), floatIn(table), floatOut(call.outputs[0]), count, vocab, width);
  return launchCheck(k, "gatherKernel");
}

Status embeddingGrad(KernelCall &call) {
  const char *k = "embedding_grad";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"ids", Elem::Index}, {"result_grad", Elem::Float}},
                               {{"table_grad", Elem::Float}}));
  const TensorView &ids = call.inputs[0], &tableGrad = call.outputs[0];
  if (tableGrad.rank() != 2)
    return errorf(k, ": table_grad has shape ", tableGrad.shapeString(), ", expected [V, D]");
  int64_t vocab = tableGrad.dim(0), width = tableGrad.dim(1), count = ids.numElements();
  DS_RETURN_IF_ERROR(expectElements(k, "result_grad", call.inputs[1], count * width));
  ScatterRequest request{ids.as<const int32_t>(), count, &call.inputs[1], 1, nullptr,
                         &tableGrad, vocab, width};
  return sortedScatterAdd(k, streamOf(call), request);
}

} // namespace ds::rt::cuda
