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
                        randomFloats(DType::F32, {1 << 20}, rng), randomFloats(DType::F32, {3, 5}, rng),
                        randomFloats(DType::BF16, {1 << 20}, rng)},
                       {outputLike(DType::F32, {})}},
                      r));
  // Both sum squares in double; only the order differs.
  EXPECT_TRUE(allClose("norm", r.cuda[0], r.cpu[0], 1e-6, 0.0));
}

TEST(CudaAdamw, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(41);
  // Every dtype mix of parameter, gradient and moments, with and without clipping; 5117
  // elements leave a tail after the vector path's 8-element groups, 65536 do not.
  const DType dtypes[] = {DType::F32, DType::BF16};
  const std::vector<int64_t> shapes[] = {{17, 301}, {64, 1024}};
  for (DType paramDtype : dtypes)
    for (DType gradDtype : dtypes)
      for (DType momentDtype : dtypes)
        for (double maxGradNorm : {0.0, 1.0})
          for (const std::vector<int64_t> &shape : shapes) {
            SCOPED_TRACE(std::string("param ") + dtypeName(paramDtype) + " grad " +
                         dtypeName(gradDtype) + " moments " + dtypeName(momentDtype) +
                         " max_grad_norm=" + std::to_string(maxGradNorm) + " shape [" +
                         std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + "]");
            KernelAttrs attrs;
            attrs.setFloat("beta1", 0.9);
            attrs.setFloat("beta2", 0.95);
            attrs.setFloat("epsilon", 1e-8);
            attrs.setFloat("weight_decay", 0.1);
            attrs.setFloat("max_grad_norm", maxGradNorm);
            KernelResults r;
            ASSERT_TRUE(runBoth({"adamw",
                                 {randomFloats(paramDtype, shape, rng),
                                  randomFloats(gradDtype, shape, rng),
                                  randomFloats(momentDtype, shape, rng, -0.1f, 0.1f),
                                  randomFloats(momentDtype, shape, rng, 0.001f, 0.01f),
                                  scalar(2.2e-4f), scalar(7.0f), scalar(3.5f)},
                                 {outputLike(paramDtype, shape), outputLike(momentDtype, shape),
                                  outputLike(momentDtype, shape)},
                                 attrs},
                                r));
            for (size_t i = 0; i < r.cpu.size(); ++i)
              EXPECT_TRUE(allClose("output " + std::to_string(i), r.cuda[i], r.cpu[i],
                                   i > 0                       ? rtolFor(momentDtype)
                                   : paramDtype == DType::BF16 ? kBf16Rtol
                                                               : 1e-6,
                                   i == 0 ? 1e-7 : 1e-6));
          }
}

} // namespace
} // namespace ds::rt::gputest
