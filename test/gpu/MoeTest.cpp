// router, dispatch/combine and their gradients. Routing and permutation are exact
// (indices, counts, positions and permuted rows bit-identical to the CPU's stable sort);
// only the weighted sums carry rounding.
#include "test/gpu/GpuTestSupport.h"

#include <algorithm>
#include <numeric>

namespace ds::rt::gputest {
namespace {

struct RouterConfig {
  int64_t experts, topK, groups, groupsKept;
  const char *scoreFunc, *groupScore;
  bool norm;
  double scale;
};

TEST(CudaRouter, MatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(50);
  const RouterConfig configs[] = {
      {256, 8, 8, 4, "sigmoid", "top2_sum", true, 2.5}, // V3
      {64, 6, 1, 1, "softmax", "max", false, 1.0},      // V2-Lite
      {64, 6, 8, 3, "softmax", "max", true, 16.0},      // V2 group-limited
      {16, 2, 1, 1, "sigmoid", "top2_sum", true, 1.0},
      {40, 33, 5, 5, "sigmoid", "max", false, 1.0}, // top_k > 32 lanes
  };
  for (DType dtype : {DType::F32, DType::BF16})
    for (const RouterConfig &c : configs)
      for (int64_t tokens : {1, 301}) {
        SCOPED_TRACE(std::string(dtypeName(dtype)) + " E=" + std::to_string(c.experts) +
                     " " + c.scoreFunc + " tokens=" + std::to_string(tokens));
        KernelAttrs attrs;
        attrs.setInt("top_k", c.topK);
        attrs.setInt("n_group", c.groups);
        attrs.setInt("topk_group", c.groupsKept);
        attrs.setString("score_func", c.scoreFunc);
        attrs.setString("group_score", c.groupScore);
        attrs.setInt("norm_topk_prob", c.norm);
        attrs.setFloat("routed_scale", c.scale);
        KernelResults r;
        ASSERT_TRUE(runBoth({"router",
                             {randomFloats(dtype, {tokens, c.experts}, rng, -3.0f, 3.0f),
                              randomFloats(dtype, {c.experts}, rng, -0.2f, 0.2f)},
                             {outputLike(DType::I32, {tokens, c.topK}),
                              outputLike(DType::F32, {tokens, c.topK})},
                             attrs},
                            r));
        EXPECT_TRUE(identical("indices", r.cuda[0], r.cpu[0]));
        EXPECT_TRUE(allClose("weights", r.cuda[1], r.cpu[1], 1e-5, 1e-6));
      }
}

/// Random expert indices that never use the experts in `empty`.
std::vector<int32_t> routedIndices(int64_t pairs, int32_t experts,
                                   const std::vector<int32_t> &empty, std::mt19937 &rng) {
  std::vector<int32_t> allowed;
  for (int32_t e = 0; e < experts; ++e)
    if (std::find(empty.begin(), empty.end(), e) == empty.end())
      allowed.push_back(e);
  std::uniform_int_distribution<size_t> pick(0, allowed.size() - 1);
  std::vector<int32_t> indices(pairs);
  for (int32_t &i : indices)
    i = allowed[pick(rng)];
  return indices;
}

struct PermuteShape {
  int64_t tokens, topK, width;
  int32_t experts;
  std::vector<int32_t> emptyExperts;
};

// Widths that are multiples of 8 take the kernels' 8-column vector path (1024: v3-mini's
// hidden size, one pass of a 128-thread block); 1 and 1030 the per-column path.
const PermuteShape kPermuteShapes[] = {{1, 1, 1, 1, {}},
                                       {37, 6, 64, 16, {0, 7, 15}},
                                       {300, 8, 200, 64, {1, 2, 3, 40}},
                                       {50, 6, 1024, 64, {5}},
                                       {20, 3, 1030, 8, {}}};

TEST(CudaDispatch, StableSortMatchesCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(51);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const PermuteShape &s : kPermuteShapes) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " tokens=" + std::to_string(s.tokens));
      KernelAttrs attrs;
      attrs.setInt("num_experts", s.experts);
      int64_t pairs = s.tokens * s.topK;
      KernelResults r;
      ASSERT_TRUE(runBoth({"dispatch",
                           {randomFloats(dtype, {s.tokens, s.width}, rng),
                            int32s({s.tokens, s.topK},
                                   routedIndices(pairs, s.experts, s.emptyExperts, rng))},
                           {outputLike(dtype, {pairs, s.width}),
                            outputLike(DType::I32, {s.experts}),
                            outputLike(DType::I32, {s.tokens, s.topK})},
                           attrs},
                          r));
      EXPECT_TRUE(identical("permuted", r.cuda[0], r.cpu[0]));
      EXPECT_TRUE(identical("counts", r.cuda[1], r.cpu[1]));
      EXPECT_TRUE(identical("positions", r.cuda[2], r.cpu[2]));
    }
}

/// positions: a random permutation of the T*K rows, or (repeats) rows drawn with
/// replacement, so that some rows are hit several times and some never.
std::vector<int32_t> randomPositions(int64_t pairs, bool repeats, std::mt19937 &rng) {
  std::vector<int32_t> positions(pairs);
  if (repeats) {
    std::uniform_int_distribution<int32_t> pick(0, int32_t(pairs) - 1);
    for (int32_t &p : positions)
      p = pick(rng);
  } else {
    std::iota(positions.begin(), positions.end(), 0);
    std::shuffle(positions.begin(), positions.end(), rng);
  }
  return positions;
}

TEST(CudaCombine, ForwardAndGradientsMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(52);
  for (DType dtype : {DType::F32, DType::BF16})
    for (const PermuteShape &s : kPermuteShapes)
      for (bool repeats : {false, true}) {
        SCOPED_TRACE(std::string(dtypeName(dtype)) + " tokens=" + std::to_string(s.tokens) +
                     (repeats ? " repeated positions" : ""));
        int64_t pairs = s.tokens * s.topK;
        HostTensor positions = int32s({s.tokens, s.topK}, randomPositions(pairs, repeats, rng));
        HostTensor rows = randomFloats(dtype, {pairs, s.width}, rng);
        HostTensor weights = randomFloats(dtype, {s.tokens, s.topK}, rng, 0.0f, 1.0f);
        KernelResults r;
        ASSERT_TRUE(runBoth({"combine", {rows, positions, weights},
                             {outputLike(dtype, {s.tokens, s.width})}},
                            r));
        EXPECT_TRUE(allClose("result", r.cuda[0], r.cpu[0], rtolFor(dtype), atolFor(dtype)));
        ASSERT_TRUE(runBoth({"dispatch_grad", {rows, positions},
                             {outputLike(dtype, {s.tokens, s.width})}},
                            r));
        EXPECT_TRUE(
            allClose("input_grad", r.cuda[0], r.cpu[0], rtolFor(dtype), atolFor(dtype)));
        ASSERT_TRUE(runBoth({"combine_grad",
                             {randomFloats(dtype, {s.tokens, s.width}, rng), rows, positions,
                              weights},
                             {outputLike(dtype, {pairs, s.width}),
                              outputLike(dtype, {s.tokens, s.topK})}},
                            r));
        EXPECT_TRUE(
            allClose("input_grad", r.cuda[0], r.cpu[0], rtolFor(dtype), atolFor(dtype)));
        EXPECT_TRUE(allClose("weights_grad", r.cuda[1], r.cpu[1], rtolFor(dtype),
                             dtype == DType::BF16 ? 8e-3 : 1e-5));
      }
}

} // namespace
} // namespace ds::rt::gputest
