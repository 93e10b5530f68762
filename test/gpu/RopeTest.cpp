// rope and rope_grad: both layouts, plain and YaRN frequencies. Both backends rotate by the
// same FP32 cos/sin (computed in double, rounded once), so F32 results agree to rounding.
#include "test/gpu/GpuTestSupport.h"

namespace ds::rt::gputest {
namespace {

TEST(CudaRope, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(20);
  const std::vector<std::vector<int64_t>> shapes = {{1, 1, 1, 2}, {2, 37, 3, 64}, {1, 300, 2, 16}};
  for (DType dtype : {DType::F32, DType::BF16})
    for (const auto &shape : shapes)
      for (bool interleaved : {false, true})
        for (bool yarn : {false, true}) {
          SCOPED_TRACE(std::string(dtypeName(dtype)) + " seq=" + std::to_string(shape[1]) +
                       (interleaved ? " interleaved" : " half") + (yarn ? " yarn" : ""));
          KernelAttrs attrs;
          attrs.setFloat("theta", 10000.0);
          attrs.setInt("interleaved", interleaved);
          if (yarn) {
            attrs.setFloat("yarn_factor", 40.0);
            attrs.setInt("yarn_original_max_position", 64);
            attrs.setFloat("yarn_attention_factor", 1.3);
          }
          KernelResults r;
          ASSERT_TRUE(runBoth({"rope", {randomFloats(dtype, shape, rng)},
                               {outputLike(dtype, shape)}, attrs},
                              r));
          EXPECT_TRUE(allClose("result", r.cuda[0], r.cpu[0], rtolFor(dtype), atolFor(dtype)));
          ASSERT_TRUE(runBoth({"rope_grad", {randomFloats(dtype, shape, rng)},
                               {outputLike(dtype, shape)}, attrs},
                              r));
          EXPECT_TRUE(
              allClose("input_grad", r.cuda[0], r.cpu[0], rtolFor(dtype), atolFor(dtype)));
        }
}

} // namespace
} // namespace ds::rt::gputest
