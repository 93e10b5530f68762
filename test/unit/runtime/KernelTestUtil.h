//===- KernelTestUtil.h - owning tensors, kernel runs, gradient checks ----===//
//
// Tests run kernels by name through the registry (lookupKernel), the path the executor
// takes. Random inputs come from fixed seeds and avoid zero (and values near it), so that
// a kernel that ignores an operand cannot pass by accident.
//
//===----------------------------------------------------------------------===//
#ifndef DS_TEST_UNIT_RUNTIME_KERNELTESTUTIL_H
#define DS_TEST_UNIT_RUNTIME_KERNELTESTUTIL_H

#include "runtime/core/Bf16.h"
#include "runtime/kernels/Kernel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace ds::rt::test {

/// A tensor that owns its bytes.
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  HostTensor() = default;
  HostTensor(DType d, std::vector<int64_t> s) : dtype(d), shape(std::move(s)) {
    bytes.assign(numElements() * dtypeSize(dtype), 0);
  }
  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  TensorView view() {
    TensorView v;
    v.data = bytes.empty() ? nullptr : bytes.data();
    v.dtype = dtype;
    v.shape = shape;
    return v;
  }
  /// Float element i (F32 or BF16) as float.
  float at(int64_t i) const {
    if (dtype == DType::BF16) {
      uint16_t b;
      std::memcpy(&b, bytes.data() + 2 * i, 2);
      return bf16ToFloat(b);
    }
    float f;
    std::memcpy(&f, bytes.data() + 4 * i, 4);
    return f;
  }
  void set(int64_t i, float value) {
    if (dtype == DType::BF16) {
      uint16_t b = floatToBf16(value);
      std::memcpy(bytes.data() + 2 * i, &b, 2);
    } else {
      std::memcpy(bytes.data() + 4 * i, &value, 4);
    }
  }
  int32_t index(int64_t i) const {
    int32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
  }
  std::vector<float> floats() const {
    std::vector<float> out(numElements());
    for (int64_t i = 0; i < numElements(); ++i)
      out[i] = at(i);
    return out;
  }
  std::vector<int32_t> indices() const {
    std::vector<int32_t> out(numElements());
    for (int64_t i = 0; i < numElements(); ++i)
      out[i] = index(i);
    return out;
  }
};

inline HostTensor floatTensor(std::vector<int64_t> shape, const std::vector<float> &values,
                              DType dtype = DType::F32) {
  HostTensor t(dtype, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numElements());
  for (int64_t i = 0; i < t.numElements() && i < static_cast<int64_t>(values.size()); ++i)
    t.set(i, values[i]);
  return t;
}

inline HostTensor indexTensor(std::vector<int64_t> shape, const std::vector<int32_t> &values) {
  HostTensor t(DType::I32, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numElements());
  std::memcpy(t.bytes.data(), values.data(), std::min<size_t>(t.bytes.size(), values.size() * 4));
  return t;
}

inline HostTensor scalarTensor(float value) { return floatTensor({}, {value}); }

/// Uniform in [-scale, -scale/10] U [scale/10, scale]: random sign, never near zero.
inline HostTensor randomTensor(std::vector<int64_t> shape, uint32_t seed, float scale = 1.0f,
                               DType dtype = DType::F32) {
  HostTensor t(dtype, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> magnitude(0.1f * scale, scale);
  std::bernoulli_distribution negative(0.5);
  for (int64_t i = 0; i < t.numElements(); ++i) {
    float m = magnitude(rng);
    t.set(i, negative(rng) ? -m : m);
  }
  return t;
}

inline Status runKernel(const std::string &name, std::vector<HostTensor *> inputs,
                        std::vector<HostTensor *> outputs, const KernelAttrs &attrs = {}) {
  KernelFn fn = lookupKernel(Backend::Cpu, name);
  if (fn == nullptr)
    return Status::error("no CPU kernel named " + name);
  KernelCall call;
  for (HostTensor *t : inputs)
    call.inputs.push_back(t->view());
  for (HostTensor *t : outputs)
    call.outputs.push_back(t->view());
  call.attrs = attrs;
  return fn(call);
}

/// Runs a kernel that must succeed.
#define DS_EXPECT_KERNEL_OK(expr)                                                                  \
  do {                                                                                             \
    ::ds::rt::Status dsKernelStatus_ = (expr);                                                     \
    ASSERT_TRUE(dsKernelStatus_.isOk()) << dsKernelStatus_.message();                              \
  } while (0)

/// Elementwise |actual - expected| <= atol + rtol * |expected|.
inline void expectClose(const std::vector<float> &actual, const std::vector<double> &expected,
                        double atol, double rtol, const std::string &what = "") {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i], atol + rtol * std::fabs(expected[i]))
        << what << " element " << i;
}

inline void expectClose(const std::vector<float> &actual, const std::vector<float> &expected,
                        double atol, double rtol, const std::string &what = "") {
  expectClose(actual, std::vector<double>(expected.begin(), expected.end()), atol, rtol, what);
}

/// A forward kernel launch whose float outputs define the scalar loss
/// L = sum_o sum_i out_o[i] * lossWeights[o][i].
struct ForwardLaunch {
  std::string kernel;
  std::vector<HostTensor> inputs;
  std::vector<HostTensor> outputs; // buffers of the result shapes and dtypes
  KernelAttrs attrs;
  std::vector<HostTensor> lossWeights; // one per output; no bytes: outside the loss

  double loss() {
    std::vector<HostTensor *> in, out;
    for (HostTensor &t : inputs)
      in.push_back(&t);
    for (HostTensor &t : outputs)
      out.push_back(&t);
    Status status = runKernel(kernel, in, out, attrs);
    EXPECT_TRUE(status.isOk()) << status.message();
    double total = 0.0;
    for (size_t o = 0; o < outputs.size(); ++o) {
      if (o >= lossWeights.size() || lossWeights[o].bytes.empty())
        continue;
      for (int64_t i = 0; i < outputs[o].numElements(); ++i)
        total += static_cast<double>(outputs[o].at(i)) * lossWeights[o].at(i);
    }
    return total;
  }

  /// Random loss weights for the float outputs listed (fixed seed), returned so that the
  /// test can pass them to the backward kernel as result gradients.
  void randomLossWeights(const std::vector<size_t> &outputIndices, uint32_t seed) {
    lossWeights.assign(outputs.size(), HostTensor());
    for (size_t o : outputIndices)
      lossWeights[o] = randomTensor(outputs[o].shape, seed + static_cast<uint32_t>(o));
  }
};

/// Central-difference gradient of launch.loss() with respect to F32 input `input`:
/// (L(x + h) - L(x - h)) / 2h per element, the loss summed in double.
inline std::vector<double> numericGradient(ForwardLaunch &launch, size_t input,
                                           double step = 2e-3) {
  HostTensor &x = launch.inputs[input];
  EXPECT_EQ(x.dtype, DType::F32);
  std::vector<double> grad(x.numElements());
  for (int64_t i = 0; i < x.numElements(); ++i) {
    float original = x.at(i);
    x.set(i, static_cast<float>(original + step));
    double plus = launch.loss();
    x.set(i, static_cast<float>(original - step));
    double minus = launch.loss();
    x.set(i, original);
    grad[i] = (plus - minus) / (2.0 * step);
  }
  return grad;
}

/// Analytic against numeric gradient: each element within `tolerance` of the largest
/// numeric magnitude (FP32 loss evaluations make tiny entries noisy in relative terms),
/// and the gradient is not all zero.
inline void expectGradientMatches(const HostTensor &analytic, const std::vector<double> &numeric,
                                  double tolerance, const std::string &what) {
  ASSERT_EQ(analytic.numElements(), static_cast<int64_t>(numeric.size())) << what;
  double largest = 0.0;
  for (double g : numeric)
    largest = std::max(largest, std::fabs(g));
  ASSERT_GT(largest, 1e-4) << what << ": the numeric gradient is zero; the check is vacuous";
  for (size_t i = 0; i < numeric.size(); ++i)
    ASSERT_NEAR(analytic.at(i), numeric[i], tolerance * largest)
        << what << " element " << i << " (largest |gradient| " << largest << ")";
}

} // namespace ds::rt::test

#endif
