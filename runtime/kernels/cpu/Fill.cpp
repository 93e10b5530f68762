//===- Fill.cpp - the runtime helpers "fill" and "copy" -------------------===//
//
// Not ds ops: ds-lower-to-exec emits "fill" for splat constants (zero gradients of unused
// parameters, the 1.0 that seeds the loss gradient) and "copy" for step outputs that are an
// argument or a value returned twice, so each output owns its bytes.
//
//===----------------------------------------------------------------------===//
#include "runtime/kernels/cpu/CpuKernels.h"
#include "runtime/kernels/cpu/CpuSupport.h"

#include <cstring>

namespace ds::rt::cpu {

Status fill(KernelCall &call) {
  const char *k = "fill";
  DS_RETURN_IF_ERROR(checkCall(call, k, {}, {{"result", Elem::Any}}));
  double value;
  DS_RETURN_IF_ERROR(requireFloat(call.attrs, k, "value", value));
  const TensorView &result = call.outputs[0];
  int64_t n = result.numElements();
  switch (result.dtype) {
  case DType::I32: {
    int32_t v = static_cast<int32_t>(value);
    if (static_cast<double>(v) != value)
      return errorf("fill: value ", value, " is not representable in the i32 result");
    std::fill(result.as<int32_t>(), result.as<int32_t>() + n, v);
    return Status::ok();
  }
  case DType::F32:
  case DType::BF16: {
    FloatWriter writer(result);
    writer.fill(static_cast<float>(value));
    return Status::ok();
  }
  case DType::F8E4M3:
    break;
  }
  return errorf("fill: result has dtype ", dtypeName(result.dtype),
                "; fill writes f32, bf16 or i32");
}

Status copy(KernelCall &call) {
  const char *k = "copy";
  DS_RETURN_IF_ERROR(checkCall(call, k, {{"input", Elem::Any}}, {{"result", Elem::Any}}));
  const TensorView &input = call.inputs[0];
  const TensorView &result = call.outputs[0];
  if (input.dtype != result.dtype)
    return errorf("copy: input is ", input.shapeString(), " but result is ",
                  result.shapeString(), "; copy does not convert");
  DS_RETURN_IF_ERROR(expectShape(k, "result", result, input.shape));
  if (input.data != result.data)
    std::memmove(result.data, input.data, static_cast<size_t>(input.sizeInBytes()));
  return Status::ok();
}

} // namespace ds::rt::cpu
