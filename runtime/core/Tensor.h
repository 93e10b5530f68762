//===- Tensor.h - dtypes and non-owning tensor views of the runtime -------===//
#ifndef DS_RUNTIME_CORE_TENSOR_H
#define DS_RUNTIME_CORE_TENSOR_H

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// Element types a plan may name. The numeric values are part of the plan format.
enum class DType : uint8_t { F32 = 0, BF16 = 1, F8E4M3 = 2, I32 = 3 };

int64_t dtypeSize(DType dtype);
const char *dtypeName(DType dtype);
/// Parses the names dtypeName prints ("f32", "bf16", "f8e4m3", "i32"); false if unknown.
bool parseDType(const std::string &name, DType &dtype);

/// A non-owning view of a dense row-major tensor in host or device memory.
struct TensorView {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numElements() const;
  int64_t sizeInBytes() const { return numElements() * dtypeSize(dtype); }
  int64_t dim(int64_t i) const { return shape[i < 0 ? i + rank() : i]; }
  std::string shapeString() const; // e.g. "2x4x8xf32"

  template <typename T> T *as() const { return static_cast<T *>(data); }
};

} // namespace ds::rt

#endif
