// BF16 storage: with BF16 operands and results, a kernel must give exactly the BF16
// rounding of what it computes in FP32 from the same (BF16-representable) values, i.e. it
// reads and writes through the shared float I/O and computes in FP32.
#include "test/unit/runtime/KernelTestUtil.h"

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

HostTensor asDtype(const HostTensor &t, DType dtype) {
  if (t.dtype == DType::I32)
    return t;
  return floatTensor(t.shape, t.floats(), dtype);
}

/// Runs `kernel` on F32 copies and on BF16 copies of `inputs` (integer tensors are
/// shared); float outputs listed in `bf16Outputs` are BF16 in the second run.
void checkBf16(const std::string &kernel, std::vector<HostTensor> inputs,
               std::vector<HostTensor> outputs, const KernelAttrs &attrs,
               const std::vector<bool> &bf16Outputs) {
  for (HostTensor &t : inputs)
    if (t.dtype != DType::I32)
      t = asDtype(asDtype(t, DType::BF16), DType::F32); // BF16-representable values
  std::vector<HostTensor> f32In = inputs, bf16In, f32Out = outputs, bf16Out;
  for (const HostTensor &t : inputs)
    bf16In.push_back(asDtype(t, DType::BF16));
  for (size_t o = 0; o < outputs.size(); ++o)
    bf16Out.push_back(bf16Outputs[o] ? asDtype(outputs[o], DType::BF16) : outputs[o]);
  auto pointers = [](std::vector<HostTensor> &v) {
    std::vector<HostTensor *> p;
    for (HostTensor &t : v)
      p.push_back(&t);
    return p;
  };
  DS_EXPECT_KERNEL_OK(runKernel(kernel, pointers(f32In), pointers(f32Out), attrs));
  DS_EXPECT_KERNEL_OK(runKernel(kernel, pointers(bf16In), pointers(bf16Out), attrs));
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (outputs[o].dtype == DType::I32) {
      EXPECT_EQ(f32Out[o].indices(), bf16Out[o].indices()) << kernel << " output " << o;
      continue;
    }
    for (int64_t i = 0; i < outputs[o].numElements(); ++i) {
      float expected = bf16Outputs[o] ? roundToBf16(f32Out[o].at(i)) : f32Out[o].at(i);
      ASSERT_EQ(bf16Out[o].at(i), expected) << kernel << " output " << o << " element " << i;
    }
  }
}

TEST(KernelBf16, NormLinearRopeAttention) {
  KernelAttrs eps;
  eps.setFloat("eps", 1e-6);
  checkBf16("rms_norm", {randomTensor({3, 8}, 80), randomTensor({8}, 81)},
            {HostTensor(DType::F32, {3, 8})}, eps, {true});
  checkBf16("grouped_linear",
            {randomTensor({5, 4}, 82), randomTensor({2, 3, 4}, 83), indexTensor({2}, {2, 3})},
            {HostTensor(DType::F32, {5, 3})}, {}, {true});
  KernelAttrs rope;
  rope.setFloat("theta", 10000.0);
  rope.setInt("interleaved", 1);
  checkBf16("rope", {randomTensor({1, 3, 2, 4}, 84)}, {HostTensor(DType::F32, {1, 3, 2, 4})},
            rope, {true});
  KernelAttrs scale;
  scale.setFloat("scale", 0.5);
  checkBf16("attention",
            {randomTensor({1, 3, 2, 4}, 85), randomTensor({1, 3, 2, 4}, 86),
             randomTensor({1, 3, 2, 2}, 87)},
            {HostTensor(DType::F32, {1, 3, 2, 2})}, scale, {true});
}

TEST(KernelBf16, MoeLossAndOptimizer) {
  checkBf16("combine",
            {randomTensor({4, 3}, 88), indexTensor({2, 2}, {3, 0, 1, 1}), randomTensor({2, 2}, 89)},
            {HostTensor(DType::F32, {2, 3})}, {}, {true});
  checkBf16("swiglu_grad", {randomTensor({2, 6}, 90), randomTensor({2, 3}, 91)},
            {HostTensor(DType::F32, {2, 6})}, {}, {true});
  // A BF16 loss input with an F32 scalar result.
  checkBf16("cross_entropy", {randomTensor({3, 5}, 92), indexTensor({3}, {0, 4, 2})},
            {HostTensor(DType::F32, {})}, {}, {false});
  KernelAttrs adam;
  adam.setFloat("beta1", 0.9);
  adam.setFloat("beta2", 0.95);
  adam.setFloat("epsilon", 1e-8);
  adam.setFloat("weight_decay", 0.1);
  adam.setFloat("max_grad_norm", 1.0);
  // BF16 moments (the V3 recipe) with an F32 master weight.
  checkBf16("adamw",
            {randomTensor({6}, 93), randomTensor({6}, 94), randomTensor({6}, 95, 0.1f),
             floatTensor({6}, {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f}), scalarTensor(1e-3f),
             scalarTensor(3.0f), scalarTensor(0.5f)},
            {HostTensor(DType::F32, {6}), HostTensor(DType::F32, {6}), HostTensor(DType::F32, {6})},
            adam, {false, true, true});
}

} // namespace
