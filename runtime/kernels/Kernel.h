//===- Kernel.h - the calling convention shared by every kernel -----------===//
//
// A kernel is named after the ds op it implements, without the dialect prefix
// ("rms_norm", "linear_wgrad", "adamw"). Its inputs are the op's operands and its outputs
// the op's results, in ODS order; its attributes are the op's attributes under their ODS
// names. This one convention lets ds-lower-to-exec lower every op the same way and lets a
// GPU test compare the CPU and CUDA implementation of a kernel with one loop.
//
// Kernels validate what the plan cannot (ids within the vocabulary, counts that sum to the
// row count) and report it as a Status; shapes were verified by the compiler and are
// re-checked by the plan loader.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_KERNELS_KERNEL_H
#define DS_RUNTIME_KERNELS_KERNEL_H

#include "runtime/core/Status.h"
#include "runtime/core/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ds::rt {

/// One attribute value: an integer list (scalars are lists of one), a float, or a string.
/// Booleans are integers 0/1.
struct AttrValue {
  enum class Kind : uint8_t { Ints = 0, Float = 1, String = 2 } kind = Kind::Ints;
  std::vector<int64_t> ints;
  double real = 0.0;
  std::string text;
};

class KernelAttrs {
public:
  void setInt(const std::string &name, int64_t v);
  void setInts(const std::string &name, std::vector<int64_t> v);
  void setFloat(const std::string &name, double v);
  void setString(const std::string &name, std::string v);

  bool has(const std::string &name) const { return values_.count(name) != 0; }
  /// Lookups return `fallback` when the attribute is absent (ODS default-valued attrs
  /// may be left out of a plan).
  int64_t getInt(const std::string &name, int64_t fallback = 0) const;
  std::vector<int64_t> getInts(const std::string &name) const;
  double getFloat(const std::string &name, double fallback = 0.0) const;
  std::string getString(const std::string &name, const std::string &fallback = "") const;
  bool getBool(const std::string &name, bool fallback = false) const {
    return getInt(name, fallback ? 1 : 0) != 0;
  }
  const std::map<std::string, AttrValue> &all() const { return values_; }
  std::map<std::string, AttrValue> &all() { return values_; }

private:
  std::map<std::string, AttrValue> values_;
};

/// The arguments of one kernel launch.
struct KernelCall {
  std::vector<TensorView> inputs;
  std::vector<TensorView> outputs;
  KernelAttrs attrs;
  /// Backend stream (cudaStream_t on CUDA, unused on the CPU).
  void *stream = nullptr;
};

using KernelFn = Status (*)(KernelCall &call);

enum class Backend : uint8_t { Cpu = 0, Cuda = 1 };

/// One row of a backend's kernel table.
struct KernelEntry {
  const char *name;
  KernelFn fn;
};

/// Returns the kernel registered under `name` for `backend`, or nullptr. The CPU table
/// (kernels/cpu/CpuKernels.cpp) is registered on first use: registration never relies on
/// static initializers, which the linker drops from a static library.
KernelFn lookupKernel(Backend backend, const std::string &name);
/// Names of every kernel registered for `backend`, sorted.
std::vector<std::string> registeredKernels(Backend backend);
/// Registers a kernel. Returns false (and keeps the earlier one) when `name` is empty, `fn`
/// is null or `name` is already registered for `backend`.
bool registerKernel(Backend backend, const std::string &name, KernelFn fn);
/// Registers every row of a table; returns false if any row was refused.
bool registerKernels(Backend backend, const KernelEntry *entries, size_t count);

/// Registers the CUDA kernel table (Backend::Cuda). Defined by DsKernelsCuda
/// (runtime/kernels/cuda/), so only a CUDA build links it; the CUDA executor calls it once
/// before it looks kernels up. Calling it again registers nothing new.
void registerCudaKernels();

} // namespace ds::rt

#endif
