// The tensor-core operand precision of the CPU products (kernel attribute `math`, set by
// ds-gemm-precision; runtime/kernels/cpu/Gemm.h): bf16 and tf32 round each operand and
// then multiply exactly as f32 does, in all six linear kernels; attention rounds q, k, v
// and the probabilities and stays within BF16 error of the FP32 result; an unknown mode
// is an error naming the kernel.
#include "runtime/kernels/cpu/Gemm.h"
#include "test/unit/runtime/KernelTestUtil.h"

using namespace ds::rt;
using namespace ds::rt::test;
using ds::rt::cpu::GemmMath;
using ds::rt::cpu::roundForGemm;

namespace {

KernelAttrs mathAttrs(const std::string &math) {
  KernelAttrs attrs;
  attrs.setString("math", math);
  return attrs;
}

HostTensor rounded(const HostTensor &t, GemmMath math) {
  HostTensor copy = t;
  for (int64_t i = 0; i < copy.numElements(); ++i)
    copy.set(i, roundForGemm(copy.at(i), math));
  return copy;
}

std::vector<float> values(const HostTensor &t) {
  std::vector<float> out(t.numElements());
  for (int64_t i = 0; i < t.numElements(); ++i)
    out[i] = t.at(i);
  return out;
}

TEST(GemmMath, RoundingKeepsTheFormatsBits) {
  // 1 + 2^-8 is a tie between two BF16 values (7 explicit bits): even goes down; a hair
  // above goes up. TF32 keeps 10 bits, so 1 + 2^-10 survives and 1 + 2^-12 does not.
  EXPECT_EQ(roundForGemm(1.0f + 0x1p-8f, GemmMath::Bf16), 1.0f);
  EXPECT_EQ(roundForGemm(1.0f + 0x1p-8f + 0x1p-20f, GemmMath::Bf16), 1.0f + 0x1p-7f);
  EXPECT_EQ(roundForGemm(1.0f + 0x1p-10f, GemmMath::Tf32), 1.0f + 0x1p-10f);
  EXPECT_EQ(roundForGemm(1.0f + 0x1p-12f, GemmMath::Tf32), 1.0f);
  EXPECT_EQ(roundForGemm(-3.0f, GemmMath::Bf16), -3.0f);
  EXPECT_EQ(roundForGemm(0.1f, GemmMath::F32), 0.1f);
  EXPECT_TRUE(std::isinf(roundForGemm(INFINITY, GemmMath::Tf32)));
}

// Each linear kernel under bf16/tf32 equals the f32 kernel on pre-rounded operands, bit
// for bit, and differs from the unrounded product (so the attribute is not ignored).
TEST(GemmMath, LinearKernelsRoundBothOperands) {
  struct Case {
    const char *kernel;
    std::vector<int64_t> a, b, out;
  };
  const Case cases[] = {{"linear", {2, 5, 40}, {24, 40}, {2, 5, 24}},
                        {"linear_dgrad", {2, 5, 24}, {24, 40}, {2, 5, 40}},
                        {"linear_wgrad", {2, 5, 24}, {2, 5, 40}, {24, 40}}};
  for (const Case &c : cases)
    for (auto [name, math] : {std::pair{"bf16", GemmMath::Bf16}, {"tf32", GemmMath::Tf32}}) {
      HostTensor a = randomTensor(c.a, 11), b = randomTensor(c.b, 12);
      HostTensor ra = rounded(a, math), rb = rounded(b, math);
      HostTensor mixed(DType::F32, c.out), reference(DType::F32, c.out), exact(DType::F32, c.out);
      DS_EXPECT_KERNEL_OK(runKernel(c.kernel, {&a, &b}, {&mixed}, mathAttrs(name)));
      DS_EXPECT_KERNEL_OK(runKernel(c.kernel, {&ra, &rb}, {&reference}, KernelAttrs()));
      DS_EXPECT_KERNEL_OK(runKernel(c.kernel, {&a, &b}, {&exact}, mathAttrs("f32")));
      EXPECT_EQ(values(mixed), values(reference)) << c.kernel << " " << name;
      EXPECT_NE(values(mixed), values(exact)) << c.kernel << " " << name;
    }
}

TEST(GemmMath, GroupedLinearRoundsBothOperands) {
  HostTensor x = randomTensor({7, 40}, 21), w = randomTensor({3, 16, 40}, 22);
  HostTensor counts = indexTensor({3}, {4, 0, 3});
  HostTensor rx = rounded(x, GemmMath::Bf16), rw = rounded(w, GemmMath::Bf16);
  HostTensor mixed(DType::F32, {7, 16}), reference(DType::F32, {7, 16});
  DS_EXPECT_KERNEL_OK(runKernel("grouped_linear", {&x, &w, &counts}, {&mixed}, mathAttrs("bf16")));
  DS_EXPECT_KERNEL_OK(runKernel("grouped_linear", {&rx, &rw, &counts}, {&reference}, KernelAttrs()));
  EXPECT_EQ(values(mixed), values(reference));
}

TEST(GemmMath, AttentionStaysWithinBf16Error) {
  HostTensor q = randomTensor({2, 9, 2, 12}, 31), k = randomTensor({2, 9, 2, 12}, 32);
  HostTensor v = randomTensor({2, 9, 2, 8}, 33), dy = randomTensor({2, 9, 2, 8}, 34);
  auto run = [&](const std::string &math, std::vector<float> &out, std::vector<float> &grads) {
    KernelAttrs attrs = mathAttrs(math);
    attrs.setFloat("scale", 0.3);
    HostTensor o(DType::F32, {2, 9, 2, 8});
    DS_EXPECT_KERNEL_OK(runKernel("attention", {&q, &k, &v}, {&o}, attrs));
    HostTensor dq(DType::F32, q.shape), dk(DType::F32, k.shape), dv(DType::F32, v.shape);
    DS_EXPECT_KERNEL_OK(runKernel("attention_grad", {&q, &k, &v, &o, &dy}, {&dq, &dk, &dv}, attrs));
    out = values(o);
    grads = values(dq);
    for (HostTensor *g : {&dk, &dv})
      for (float x : values(*g))
        grads.push_back(x);
  };
  std::vector<float> exactOut, exactGrads, mixedOut, mixedGrads;
  run("f32", exactOut, exactGrads);
  run("bf16", mixedOut, mixedGrads);
  EXPECT_NE(mixedOut, exactOut);
  EXPECT_NE(mixedGrads, exactGrads);
  // BF16 keeps 8 significant bits (relative 2^-9 per operand); sums of a few dozen
  // products of O(1) values stay within a few percent of the largest element.
  auto expectNear = [](const std::vector<float> &a, const std::vector<float> &b, const char *what) {
    float largest = 0.0f;
    for (float x : b)
      largest = std::max(largest, std::fabs(x));
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(a[i], b[i], 0.02f * largest) << what << " element " << i;
  };
  expectNear(mixedOut, exactOut, "result");
  expectNear(mixedGrads, exactGrads, "gradients");
}

TEST(GemmMath, UnknownModeIsAnError) {
  HostTensor x = randomTensor({4, 8}, 41), w = randomTensor({3, 8}, 42);
  HostTensor y(DType::F32, {4, 3});
  Status status = runKernel("linear", {&x, &w}, {&y}, mathAttrs("fp16"));
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("linear: math = 'fp16' is not f32, bf16 or tf32"),
            std::string::npos)
      << status.message();
}

} // namespace
