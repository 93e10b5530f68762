// Optimizer kernels: grad_norm against a naive sum, AdamW against hand-computed steps
// (with and without clipping), in place as the training step runs it.
#include "test/unit/runtime/KernelTestUtil.h"

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

TEST(KernelGradNorm, GlobalL2NormOverAllGradients) {
  HostTensor a = randomTensor({3, 4}, 50), b = randomTensor({5}, 51, 1.0f, DType::BF16);
  HostTensor norm(DType::F32, {});
  DS_EXPECT_KERNEL_OK(runKernel("grad_norm", {&a, &b}, {&norm}));
  double sum = 0;
  for (float v : a.floats())
    sum += double(v) * v;
  for (float v : b.floats())
    sum += double(v) * v;
  EXPECT_NEAR(norm.at(0), std::sqrt(sum), 1e-6);
}

KernelAttrs adamwAttrs(double maxGradNorm) {
  KernelAttrs attrs;
  attrs.setFloat("beta1", 0.9);
  attrs.setFloat("beta2", 0.95);
  attrs.setFloat("epsilon", 1e-8);
  attrs.setFloat("weight_decay", 0.1);
  attrs.setFloat("max_grad_norm", maxGradNorm);
  return attrs;
}

// Step 2 with clipping: g' = 0.5 * 1 / (2 + 1e-6); m' = 0.9 * 0.1 + 0.1 g';
// v' = 0.95 * 0.01 + 0.05 g'^2; p' = 1 - 0.01 (m'/0.19 / (sqrt(v'/0.0975) + 1e-8) + 0.1).
TEST(KernelAdamw, HandComputedClippedStepInPlace) {
  HostTensor param = floatTensor({1}, {1.0f}), grad = floatTensor({1}, {0.5f});
  HostTensor m = floatTensor({1}, {0.1f}), v = floatTensor({1}, {0.01f});
  HostTensor lr = scalarTensor(0.01f), step = scalarTensor(2.0f), norm = scalarTensor(2.0f);
  DS_EXPECT_KERNEL_OK(runKernel("adamw", {&param, &grad, &m, &v, &lr, &step, &norm},
                                {&param, &m, &v}, adamwAttrs(1.0)));
  EXPECT_NEAR(m.at(0), 0.11499998750000626, 1e-7);
  EXPECT_NEAR(v.at(0), 0.012624996875002346, 1e-8);
  EXPECT_NEAR(param.at(0), 0.9821798118950009, 2e-7);
}

// Step 1 from zero moments without clipping: the update is g / |g| = 1 (plus decay).
TEST(KernelAdamw, HandComputedFirstStepWithoutClipping) {
  HostTensor param = floatTensor({1}, {-0.3f}), grad = floatTensor({1}, {0.2f});
  HostTensor m = floatTensor({1}, {0.0f}), v = floatTensor({1}, {0.0f});
  HostTensor lr = scalarTensor(0.01f), step = scalarTensor(1.0f), norm = scalarTensor(50.0f);
  HostTensor newParam(DType::F32, {1}), newM(DType::F32, {1}), newV(DType::F32, {1});
  DS_EXPECT_KERNEL_OK(runKernel("adamw", {&param, &grad, &m, &v, &lr, &step, &norm},
                                {&newParam, &newM, &newV}, adamwAttrs(0.0)));
  EXPECT_NEAR(newM.at(0), 0.02, 1e-8);
  EXPECT_NEAR(newV.at(0), 0.002, 1e-9);
  EXPECT_NEAR(newParam.at(0), -0.3096999995, 1e-7);
}

TEST(KernelAdamw, StepMustCountFromOne) {
  HostTensor param = floatTensor({1}, {1.0f}), grad = floatTensor({1}, {0.5f});
  HostTensor m = floatTensor({1}, {0.1f}), v = floatTensor({1}, {0.01f});
  HostTensor lr = scalarTensor(0.01f), step = scalarTensor(0.0f), norm = scalarTensor(1.0f);
  Status status = runKernel("adamw", {&param, &grad, &m, &v, &lr, &step, &norm}, {&param, &m, &v},
                            adamwAttrs(1.0));
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("step"), std::string::npos) << status.message();
}

} // namespace
