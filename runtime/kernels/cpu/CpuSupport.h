//===- CpuSupport.h - argument checks and float I/O shared by CPU kernels -===//
//
// Every CPU kernel computes in FP32 whatever the storage dtype of its float operands:
// FloatReader presents an F32 or BF16 tensor as FP32 values (no copy for F32) and
// FloatWriter collects FP32 results and stores them in the output's dtype (BF16 rounded to
// nearest even). One helper instead of per-kernel conversions keeps the kernels plain.
//
// Aliasing: an F32 reader/writer addresses the tensor's own memory, so an output may alias
// an input only in elementwise kernels that read an element before writing it.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_CPU_CPUSUPPORT_H
#define DS_RUNTIME_KERNELS_CPU_CPUSUPPORT_H

#include "runtime/kernels/Kernel.h"

#include <initializer_list>
#include <vector>

namespace ds::rt::cpu {

/// What an operand's element type may be.
enum class Elem : uint8_t {
  Float, // F32 or BF16
  Index, // I32
  Fp8,   // F8E4M3
  Any,
};

struct OperandSpec {
  const char *name;
  Elem elem;
};

/// Checks the number of inputs and outputs, their element types and that every non-empty
/// tensor has memory; the message names the kernel and the operand.
Status checkCall(const KernelCall &call, const char *kernel,
                 std::initializer_list<OperandSpec> inputs,
                 std::initializer_list<OperandSpec> outputs);

/// Checks one operand's element type and memory (for variadic operands).
Status checkOperand(const char *kernel, const OperandSpec &spec, const TensorView &t);

/// `t` must have exactly `dims` as its shape.
Status expectShape(const char *kernel, const char *name, const TensorView &t,
                   const std::vector<int64_t> &dims);
/// `t` must have `count` elements.
Status expectElements(const char *kernel, const char *name, const TensorView &t, int64_t count);
/// `t` must have at least `rank` dimensions.
Status expectMinRank(const char *kernel, const char *name, const TensorView &t, int64_t rank);
/// `t` must have two dimensions, which `layout` names ("[T, E]"); they are stored in `rows`
/// and `cols`.
Status expectMatrix(const char *kernel, const char *name, const TensorView &t,
                    const char *layout, int64_t &rows, int64_t &cols);

/// Attributes without an ODS default must be present.
Status requireInt(const KernelAttrs &attrs, const char *kernel, const char *name, int64_t &value);
Status requireFloat(const KernelAttrs &attrs, const char *kernel, const char *name, double &value);
Status requireString(const KernelAttrs &attrs, const char *kernel, const char *name,
                     std::string &value);
Status requireInts(const KernelAttrs &attrs, const char *kernel, const char *name,
                   std::vector<int64_t> &value);

/// The FP8 kernels' `block` attribute: two positive sizes [bm, bk] of the scale blocks
/// over the last two dimensions.
Status requireQuantBlock(const KernelAttrs &attrs, const char *kernel,
                         std::vector<int64_t> &block);

/// Read-only FP32 access to an F32 or BF16 tensor.
class FloatReader {
public:
  explicit FloatReader(const TensorView &t);
  FloatReader(const FloatReader &) = delete;
  FloatReader &operator=(const FloatReader &) = delete;
  const float *data() const { return data_; }
  float operator[](int64_t i) const { return data_[i]; }

private:
  std::vector<float> converted_;
  const float *data_ = nullptr;
};

/// Write access in FP32 to an F32 or BF16 tensor; a BF16 tensor is written (rounded) when
/// the writer is destroyed. Contents start as the tensor's for F32 and as zeros for BF16:
/// kernels write every element or zero-fill first.
class FloatWriter {
public:
  explicit FloatWriter(const TensorView &t);
  ~FloatWriter();
  FloatWriter(const FloatWriter &) = delete;
  FloatWriter &operator=(const FloatWriter &) = delete;
  float *data() { return data_; }
  float &operator[](int64_t i) { return data_[i]; }
  void fill(float value);

private:
  TensorView target_;
  std::vector<float> staged_;
  float *data_ = nullptr;
};

/// The value of a 0-d (or one-element) F32/BF16 tensor.
float readScalar(const TensorView &t);
/// Stores `value` into a one-element F32/BF16 tensor.
void writeScalar(const TensorView &t, float value);

/// Copies `count` elements from `src` at element `srcOffset` to `dst` at `dstOffset`,
/// converting between F32 and BF16 when the dtypes differ (any dtype when they agree).
/// Returns false when the dtypes differ and are not both float.
bool copyElements(const TensorView &src, int64_t srcOffset, const TensorView &dst,
                  int64_t dstOffset, int64_t count);

/// Product of dims [begin, end) of `shape`.
int64_t product(const std::vector<int64_t> &shape, int64_t begin, int64_t end);

/// A host tensor a fused CPU kernel owns for an intermediate: the buffer one of the
/// launches it replaces would have written. The fused CPU kernels run those launches'
/// kernels literally, stage by stage (runStage), so that fusion never changes a bit of
/// the reference's results.
class ScratchTensor {
public:
  ScratchTensor(DType dtype, std::vector<int64_t> shape);
  const TensorView &view() const { return view_; }
  /// The same bytes under another shape of as many elements (a dsx.view).
  TensorView reshaped(std::vector<int64_t> shape) const;

private:
  std::vector<uint8_t> bytes_;
  TensorView view_;
};

/// Runs one stage of fused kernel `fused`: `kernel` on `inputs` -> `outputs` with
/// `attrs`; an error names both kernels ("rope_partial: rope: ...").
Status runStage(const char *fused, KernelFn kernel, std::vector<TensorView> inputs,
                std::vector<TensorView> outputs, const KernelAttrs &attrs = {});

} // namespace ds::rt::cpu

#endif
