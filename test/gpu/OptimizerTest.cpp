// grad_norm over several gradients of mixed dtypes and adamw with and without clipping.
#include "test/gpu/GpuTestSupport.h"

namespace ds::rt::gputest {
namespace {

TEST(CudaGradNorm, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(40);
  KernelResults r;
  ASSERT_TRUE(runBoth({"grad_norm",
                       {randomFloats(DType::F32, {1}, rng), randomFloats(DType::BF16, {37, 129}, rng),
                        randomFloats(DType::F32, {1 << 20}, rng), randomFloats(DType::F32, {3, 5}, rng)},
                       {outputLike(DType::F32, {})}},
                      r));
  // Both sum squares in double; only the order differs.
  EXPECT_TRUE(allClose("norm", r.cuda[0], r.cpu[0], 1e-6, 0.0));
}

TEST(CudaAdamw, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(41);
  for (DType momentDtype : {DType::F32, DType::BF16})
    for (double maxGradNorm : {0.0, 1.0}) {
      SCOPED_TRACE(std::string("moments ") + dtypeName(momentDtype) +
                   " max_grad_norm=" + std::to_string(maxGradNorm));
      std::vector<int64_t> shape = {17, 301};
      KernelAttrs attrs;
      attrs.setFloat("beta1", 0.9);
      attrs.setFloat("beta2", 0.95);
      attrs.setFloat("epsilon", 1e-8);
      attrs.setFloat("weight_decay", 0.1);
      attrs.setFloat("max_grad_norm", maxGradNorm);
      KernelResults r;
      ASSERT_TRUE(runBoth({"adamw",
                           {randomFloats(DType::F32, shape, rng),
                            randomFloats(DType::BF16, shape, rng),
                            randomFloats(momentDtype, shape, rng, -0.1f, 0.1f),
                            randomFloats(momentDtype, shape, rng, 0.001f, 0.01f),
                            scalar(2.2e-4f), scalar(7.0f), scalar(3.5f)},
                           {outputLike(DType::F32, shape), outputLike(momentDtype, shape),
                            outputLike(momentDtype, shape)},
                           attrs},
                          r));
      for (size_t i = 0; i < r.cpu.size(); ++i)
        EXPECT_TRUE(allClose("output " + std::to_string(i), r.cuda[i], r.cpu[i],
                             i == 0 ? 1e-6 : rtolFor(momentDtype), i == 0 ? 1e-7 : 1e-6));
    }
}

} // namespace
} // namespace ds::rt::gputest
