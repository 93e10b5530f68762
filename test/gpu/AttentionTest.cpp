// attention and attention_grad: MLA's head dims (q/k 192, v 128), small odd dims, one
// token, sequences that are not a multiple of the tiles, causal and full.
#include "test/gpu/GpuTestSupport.h"

#include <cmath>

namespace ds::rt::gputest {
namespace {

struct AttentionShape {
  int64_t batch, seq, heads, qkDim, vDim;
};

TEST(CudaAttention, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(60);
  const AttentionShape shapes[] = {
      {1, 1, 1, 8, 8}, {2, 33, 3, 24, 40}, {1, 70, 2, 192, 128}, {1, 129, 1, 72, 17}};
  for (DType dtype : {DType::F32, DType::BF16})
    for (const AttentionShape &s : shapes)
      for (bool causal : {true, false}) {
        SCOPED_TRACE(std::string(dtypeName(dtype)) + " seq=" + std::to_string(s.seq) + " dqk=" +
                     std::to_string(s.qkDim) + (causal ? " causal" : " full"));
        KernelAttrs attrs;
        attrs.setFloat("scale", 1.0 / std::sqrt(double(s.qkDim)));
        attrs.setInt("causal", causal);
        std::vector<int64_t> qkShape = {s.batch, s.seq, s.heads, s.qkDim};
        std::vector<int64_t> vShape = {s.batch, s.seq, s.heads, s.vDim};
        // Spread the scores beyond [-1, 1] so the softmax is not nearly uniform.
        HostTensor q = randomFloats(dtype, qkShape, rng, -2.0f, 2.0f);
        HostTensor k = randomFloats(dtype, qkShape, rng, -2.0f, 2.0f);
        HostTensor v = randomFloats(dtype, vShape, rng);
        KernelResults r;
        ASSERT_TRUE(runBoth({"attention", {q, k, v}, {outputLike(dtype, vShape)}, attrs}, r));
        EXPECT_TRUE(allClose("result", r.cuda[0], r.cpu[0], rtolFor(dtype),
                             dtype == DType::BF16 ? kBf16Atol : 1e-5));
        HostTensor out = r.cpu[0];
        ASSERT_TRUE(runBoth({"attention_grad",
                             {q, k, v, out, randomFloats(dtype, vShape, rng)},
                             {outputLike(dtype, qkShape), outputLike(dtype, qkShape),
                              outputLike(dtype, vShape)},
                             attrs},
                            r));
        const char *names[] = {"query_grad", "key_grad", "value_grad"};
        for (int i = 0; i < 3; ++i)
          EXPECT_TRUE(allClose(names[i], r.cuda[i], r.cpu[i], rtolFor(dtype),
                               dtype == DType::BF16 ? 8e-3 : 2e-5));
      }
}

} // namespace
} // namespace ds::rt::gputest
