// The router backward and its balancing terms: router_grad, balance_loss(+grad),
// bias_update, on routing indices a router could emit (distinct experts per token).
#include "test/gpu/GpuTestSupport.h"

#include <algorithm>
#include <numeric>

namespace ds::rt::gputest {
namespace {

/// K distinct experts per token, drawn at random.
std::vector<int32_t> distinctIndices(int64_t tokens, int64_t topK, int32_t experts,
                                     std::mt19937 &rng) {
  std::vector<int32_t> all(experts), indices;
  std::iota(all.begin(), all.end(), 0);
  for (int64_t t = 0; t < tokens; ++t) {
    std::shuffle(all.begin(), all.end(), rng);
    indices.insert(indices.end(), all.begin(), all.begin() + topK);
  }
  return indices;
}

struct RoutingShape {
  int64_t sequences, seqLen, topK;
  int32_t experts;
};

const RoutingShape kShapes[] = {{1, 1, 1, 2}, {2, 37, 6, 16}, {4, 300, 8, 64}, {1, 50, 8, 256}};

TEST(CudaRouterGrad, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(80);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const RoutingShape &s : kShapes)
      for (const char *scoreFunc : {"sigmoid", "softmax"})
        for (bool norm : {false, true}) {
          SCOPED_TRACE(std::string(dtypeName(dtype)) + " " + scoreFunc + " E=" +
                       std::to_string(s.experts) + (norm ? " norm" : ""));
          int64_t tokens = s.sequences * s.seqLen;
          KernelAttrs attrs;
          attrs.setString("score_func", scoreFunc);
          attrs.setFloat("routed_scale", 2.5);
          attrs.setInt("norm_topk_prob", norm);
          KernelResults r;
          ASSERT_TRUE(runBoth({"router_grad",
                               {randomFloats(dtype, {tokens, s.experts}, rng, -3.0f, 3.0f),
                                int32s({tokens, s.topK}, distinctIndices(tokens, s.topK, s.experts, rng)),
                                randomFloats(dtype, {tokens, s.topK}, rng)},
                               {outputLike(dtype, {tokens, s.experts})},
                               attrs},
                              r));
          EXPECT_TRUE(allClose("logits_grad", r.cuda[0], r.cpu[0], rtolFor(dtype),
                               dtype == DType::BF16 ? kBf16Atol : 1e-5));
        }
}

TEST(CudaBalanceLoss, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(81);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const RoutingShape &s : kShapes)
      for (const char *scoreFunc : {"sigmoid", "softmax"}) {
        SCOPED_TRACE(std::string(dtypeName(dtype)) + " " + scoreFunc + " E=" +
                     std::to_string(s.experts));
        int64_t tokens = s.sequences * s.seqLen;
        KernelAttrs attrs;
        attrs.setString("score_func", scoreFunc);
        attrs.setFloat("alpha", 0.3);
        attrs.setInt("num_sequences", s.sequences);
        HostTensor logits = randomFloats(dtype, {tokens, s.experts}, rng, -3.0f, 3.0f);
        HostTensor indices =
            int32s({tokens, s.topK}, distinctIndices(tokens, s.topK, s.experts, rng));
        KernelResults r;
        ASSERT_TRUE(runBoth({"balance_loss", {logits, indices}, {outputLike(dtype, {})}, attrs}, r));
        EXPECT_TRUE(allClose("result", r.cuda[0], r.cpu[0], rtolFor(dtype), 0.0));
        ASSERT_TRUE(runBoth({"balance_loss_grad",
                             {logits, indices, scalar(1.7f)},
                             {outputLike(dtype, {tokens, s.experts})},
                             attrs},
                            r));
        EXPECT_TRUE(allClose("logits_grad", r.cuda[0], r.cpu[0], rtolFor(dtype),
                             dtype == DType::BF16 ? kBf16Atol : 1e-5));
      }
}

TEST(CudaBiasUpdate, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(82);
  for (int32_t experts : {1, 8, 64, 300}) {
    // Loads around the mean, some exactly at it (sign 0) when the mean is an integer.
    std::uniform_int_distribution<int32_t> load(0, 40);
    std::vector<int32_t> counts(experts);
    for (int32_t &c : counts)
      c = load(rng);
    KernelAttrs attrs;
    attrs.setFloat("gamma", 0.01);
    KernelResults r;
    ASSERT_TRUE(runBoth({"bias_update",
                         {randomFloats(DType::F32, {experts}, rng), int32s({experts}, counts)},
                         {outputLike(DType::F32, {experts})},
                         attrs},
                        r));
    EXPECT_TRUE(identical("new_bias", r.cuda[0], r.cpu[0]));
  }
}

} // namespace
} // namespace ds::rt::gputest
