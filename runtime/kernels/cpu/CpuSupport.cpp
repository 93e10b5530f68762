#include "runtime/kernels/cpu/CpuSupport.h"

#include "runtime/core/Bf16.h"

#include <algorithm>
#include <cstring>

namespace ds::rt::cpu {
namespace {

bool elemMatches(Elem elem, DType dtype) {
  switch (elem) {
  case Elem::Float:
    return dtype == DType::F32 || dtype == DType::BF16;
  case Elem::Index:
    return dtype == DType::I32;
  case Elem::Fp8:
    return dtype == DType::F8E4M3;
  case Elem::Any:
    return true;
  }
  return false;
}

const char *elemName(Elem elem) {
  switch (elem) {
  case Elem::Float:
    return "f32 or bf16";
  case Elem::Index:
    return "i32";
  case Elem::Fp8:
    return "f8e4m3";
  case Elem::Any:
    return "any dtype";
  }
  return "?";
}

} // namespace

Status checkOperand(const char *kernel, const OperandSpec &spec, const TensorView &t) {
  if (!elemMatches(spec.elem, t.dtype))
    return errorf(kernel, ": ", spec.name, " has dtype ", dtypeName(t.dtype), ", expected ",
                  elemName(spec.elem));
  for (int64_t d : t.shape)
    if (d < 0)
      return errorf(kernel, ": ", spec.name, " has a negative dimension (", t.shapeString(), ")");
  if (t.data == nullptr && t.numElements() > 0)
    return errorf(kernel, ": ", spec.name, " (", t.shapeString(), ") has no memory");
  return Status::ok();
}

namespace {

Status checkOperands(const std::vector<TensorView> &views, const char *kernel, const char *side,
                     std::initializer_list<OperandSpec> specs) {
  if (views.size() != specs.size())
    return errorf(kernel, ": expected ", specs.size(), " ", side, " but got ", views.size());
  size_t i = 0;
  for (const OperandSpec &spec : specs)
    DS_RETURN_IF_ERROR(checkOperand(kernel, spec, views[i++]));
  return Status::ok();
}

} // namespace

Status checkCall(const KernelCall &call, const char *kernel,
                 std::initializer_list<OperandSpec> inputs,
                 std::initializer_list<OperandSpec> outputs) {
  DS_RETURN_IF_ERROR(checkOperands(call.inputs, kernel, "inputs", inputs));
  return checkOperands(call.outputs, kernel, "outputs", outputs);
}

Status expectShape(const char *kernel, const char *name, const TensorView &t,
                   const std::vector<int64_t> &dims) {
  if (t.shape == dims)
    return Status::ok();
  TensorView expected;
  expected.dtype = t.dtype;
  expected.shape = dims;
  return errorf(kernel, ": ", name, " has shape ", t.shapeString(), ", expected ",
                expected.shapeString());
}

Status expectElements(const char *kernel, const char *name, const TensorView &t, int64_t count) {
  if (t.numElements() == count)
    return Status::ok();
  return errorf(kernel, ": ", name, " has shape ", t.shapeString(), " (", t.numElements(),
                " elements), expected ", count, " elements");
}

Status expectMinRank(const char *kernel, const char *name, const TensorView &t, int64_t rank) {
  if (t.rank() >= rank)
    return Status::ok();
  return errorf(kernel, ": ", name, " has shape ", t.shapeString(), ", expected rank >= ", rank);
}

Status expectMatrix(const char *kernel, const char *name, const TensorView &t,
                    const char *layout, int64_t &rows, int64_t &cols) {
  if (t.rank() != 2)
    return errorf(kernel, ": ", name, " has shape ", t.shapeString(), ", expected ", layout);
  rows = t.dim(0);
  cols = t.dim(1);
  return Status::ok();
}

Status requireInt(const KernelAttrs &attrs, const char *kernel, const char *name, int64_t &value) {
  if (!attrs.has(name))
    return errorf(kernel, ": missing integer attribute '", name, "'");
  const AttrValue &attr = attrs.all().at(name);
  if (attr.kind != AttrValue::Kind::Ints || attr.ints.size() != 1)
    return errorf(kernel, ": attribute '", name, "' must be one integer");
  value = attr.ints[0];
  return Status::ok();
}

Status requireFloat(const KernelAttrs &attrs, const char *kernel, const char *name, double &value) {
  if (!attrs.has(name))
    return errorf(kernel, ": missing float attribute '", name, "'");
  const AttrValue &attr = attrs.all().at(name);
  if (attr.kind == AttrValue::Kind::String ||
      (attr.kind == AttrValue::Kind::Ints && attr.ints.size() != 1))
    return errorf(kernel, ": attribute '", name, "' must be a number");
  value = attrs.getFloat(name);
  return Status::ok();
}

Status requireString(const KernelAttrs &attrs, const char *kernel, const char *name,
                     std::string &value) {
  if (!attrs.has(name))
    return errorf(kernel, ": missing string attribute '", name, "'");
  const AttrValue &attr = attrs.all().at(name);
  if (attr.kind != AttrValue::Kind::String)
    return errorf(kernel, ": attribute '", name, "' must be a string");
  value = attr.text;
  return Status::ok();
}

Status requireInts(const KernelAttrs &attrs, const char *kernel, const char *name,
                   std::vector<int64_t> &value) {
  if (!attrs.has(name))
    return errorf(kernel, ": missing integer-list attribute '", name, "'");
  const AttrValue &attr = attrs.all().at(name);
  if (attr.kind != AttrValue::Kind::Ints)
    return errorf(kernel, ": attribute '", name, "' must be a list of integers");
  value = attr.ints;
  return Status::ok();
}

FloatReader::FloatReader(const TensorView &t) {
  if (t.dtype == DType::F32) {
    data_ = t.as<const float>();
    return;
  }
  int64_t n = t.numElements();
  converted_.resize(n);
  const uint16_t *bits = t.as<const uint16_t>();
  for (int64_t i = 0; i < n; ++i)
    converted_[i] = bf16ToFloat(bits[i]);
  data_ = converted_.data();
}

FloatWriter::FloatWriter(const TensorView &t) : target_(t) {
  if (t.dtype == DType::F32) {
    data_ = t.as<float>();
    return;
  }
  staged_.assign(t.numElements(), 0.0f);
  data_ = staged_.data();
}

FloatWriter::~FloatWriter() {
  if (target_.dtype != DType::BF16)
    return;
  uint16_t *bits = target_.as<uint16_t>();
  for (size_t i = 0; i < staged_.size(); ++i)
    bits[i] = floatToBf16(staged_[i]);
}

void FloatWriter::fill(float value) { std::fill(data_, data_ + target_.numElements(), value); }

float readScalar(const TensorView &t) {
  return t.dtype == DType::BF16 ? bf16ToFloat(*t.as<const uint16_t>()) : *t.as<const float>();
}

void writeScalar(const TensorView &t, float value) {
  if (t.dtype == DType::BF16)
    *t.as<uint16_t>() = floatToBf16(value);
  else
    *t.as<float>() = value;
}

bool copyElements(const TensorView &src, int64_t srcOffset, const TensorView &dst,
                  int64_t dstOffset, int64_t count) {
  if (count <= 0)
    return true;
  if (src.dtype == dst.dtype) {
    int64_t size = dtypeSize(src.dtype);
    std::memmove(static_cast<char *>(dst.data) + dstOffset * size,
                 static_cast<const char *>(src.data) + srcOffset * size, count * size);
    return true;
  }
  if (src.dtype == DType::F32 && dst.dtype == DType::BF16) {
    const float *from = src.as<const float>() + srcOffset;
    uint16_t *to = dst.as<uint16_t>() + dstOffset;
    for (int64_t i = 0; i < count; ++i)
      to[i] = floatToBf16(from[i]);
    return true;
  }
  if (src.dtype == DType::BF16 && dst.dtype == DType::F32) {
    const uint16_t *from = src.as<const uint16_t>() + srcOffset;
    float *to = dst.as<float>() + dstOffset;
    for (int64_t i = 0; i < count; ++i)
      to[i] = bf16ToFloat(from[i]);
    return true;
  }
  return false;
}

int64_t product(const std::vector<int64_t> &shape, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t i = begin; i < end; ++i)
    n *= shape[i];
  return n;
}

ScratchTensor::ScratchTensor(DType dtype, std::vector<int64_t> shape) {
  view_.dtype = dtype;
  view_.shape = std::move(shape);
  bytes_.resize(view_.sizeInBytes());
  view_.data = bytes_.data();
}

TensorView ScratchTensor::reshaped(std::vector<int64_t> shape) const {
  TensorView view = view_;
  view.shape = std::move(shape);
  return view;
}

Status runStage(const char *fused, KernelFn kernel, std::vector<TensorView> inputs,
                std::vector<TensorView> outputs, const KernelAttrs &attrs) {
  KernelCall call;
  call.inputs = std::move(inputs);
  call.outputs = std::move(outputs);
  call.attrs = attrs;
  Status status = kernel(call);
  if (!status.isOk())
    return errorf(fused, ": ", status.message());
  return Status::ok();
}

Status requireQuantBlock(const KernelAttrs &attrs, const char *kernel,
                         std::vector<int64_t> &block) {
  DS_RETURN_IF_ERROR(requireInts(attrs, kernel, "block", block));
  if (block.size() != 2 || block[0] < 1 || block[1] < 1)
    return errorf(kernel, ": block must be two positive sizes [bm, bk]");
  return Status::ok();
}

} // namespace ds::rt::cpu
