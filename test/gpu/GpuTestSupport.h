//===- GpuTestSupport.h - run a kernel on the CPU and on CUDA, compare ----===//
//
// Every GPU test is the same loop: fresh random inputs, the CPU reference kernel (from the
// registry, Backend::Cpu) and the CUDA kernel (Backend::Cuda) on copies of them, outputs
// compared with bounds fitting the storage dtype. CUDA outputs are poisoned (all bytes
// 0xFF: NaN for floats, -1 for ints) before each launch so an element the kernel forgot
// to write fails the comparison, and each CUDA kernel runs twice: the two results must be
// bit-identical, since every CUDA kernel promises determinism.
//
//===----------------------------------------------------------------------===//
#ifndef DS_TEST_GPU_GPUTESTSUPPORT_H
#define DS_TEST_GPU_GPUTESTSUPPORT_H

#include "runtime/kernels/Kernel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ds::rt::gputest {

/// True when a CUDA device is usable (cudaGetDeviceCount succeeds and finds one).
bool cudaDeviceAvailable();

#define DS_REQUIRE_CUDA()                                                                   \
  do {                                                                                      \
    if (!::ds::rt::gputest::cudaDeviceAvailable())                                          \
      GTEST_SKIP() << "no CUDA device";                                                     \
  } while (0)

/// A dense tensor in host memory.
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  int64_t numElements() const;
  TensorView view() const;
  /// Element i as a double (F32, BF16 or I32).
  double at(int64_t i) const;
};

/// Uniform values in [lo, hi) (rounded to the dtype's precision for BF16).
HostTensor randomFloats(DType dtype, std::vector<int64_t> shape, std::mt19937 &rng,
                        float lo = -1.0f, float hi = 1.0f);
HostTensor int32s(std::vector<int64_t> shape, const std::vector<int32_t> &values);
HostTensor scalar(float value);
/// A tensor of this dtype and shape, for an output.
HostTensor outputLike(DType dtype, std::vector<int64_t> shape);

struct KernelCase {
  std::string kernel;
  std::vector<HostTensor> inputs;
  std::vector<HostTensor> outputs; // dtype and shape of each output
  KernelAttrs attrs;
};

struct KernelResults {
  std::vector<HostTensor> cpu, cuda;
};

/// Runs the case's kernel on both backends (the CUDA one twice, checking the two runs are
/// bit-identical). Fails with the kernel's Status message or the CUDA error.
::testing::AssertionResult runBoth(const KernelCase &c, KernelResults &results);

/// Runs only the CUDA kernel (for kernels without a CPU reference).
::testing::AssertionResult runCuda(const KernelCase &c, std::vector<HostTensor> &outputs);

/// Every element: |cuda - cpu| <= rtol * |cpu| + atol * max|cpu|; NaN never passes.
/// The message names the worst element.
::testing::AssertionResult allClose(const std::string &what, const HostTensor &cuda,
                                    const HostTensor &cpu, double rtol, double atol);
/// The same with `atol` an absolute bound (for a magnitude the test chooses itself).
::testing::AssertionResult allCloseAbsolute(const std::string &what, const HostTensor &cuda,
                                            const HostTensor &cpu, double rtol, double atol);
/// max |element|.
double maxAbs(const HostTensor &t);

/// Bit-identical contents.
::testing::AssertionResult identical(const std::string &what, const HostTensor &cuda,
                                     const HostTensor &cpu);

/// Typical bounds: FP32 results of FP32 math, BF16 results (one BF16 rounding apart).
constexpr double kF32Rtol = 1e-4, kF32Atol = 1e-5;
constexpr double kBf16Rtol = 1.6e-2, kBf16Atol = 4e-3;
inline double rtolFor(DType d) { return d == DType::BF16 ? kBf16Rtol : kF32Rtol; }
inline double atolFor(DType d) { return d == DType::BF16 ? kBf16Atol : kF32Atol; }

} // namespace ds::rt::gputest

#endif
