// embedding (+grad) and cross_entropy (+grad). The embedding gradient adds a repeated id's
// rows in token order on both backends, so F32 results are bit-identical.
#include "test/gpu/GpuTestSupport.h"

namespace ds::rt::gputest {
namespace {

std::vector<int32_t> randomIds(int64_t count, int32_t vocab, std::mt19937 &rng) {
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> ids(count);
  for (int32_t &id : ids)
    id = dist(rng);
  return ids;
}

TEST(CudaEmbedding, ForwardAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(30);
  struct Shape {
    std::vector<int64_t> ids;
    int32_t vocab;
    int64_t width;
  };
  // Small vocabularies force many repeated ids (the scatter-add's runs); {3000} over 3 ids
  // makes runs of ~1000, summed in unrolled batches over two column chunks of 256, and
  // {2, 700} over 5 ids runs of ~280 over five chunks, the last partial.
  const Shape shapes[] = {{{1}, 1, 1},          {{4, 33}, 7, 48},   {{2, 512}, 1000, 256},
                          {{3000}, 3, 300},     {{2, 700}, 5, 1030}};
  for (DType dtype : {DType::F32, DType::BF16})
    for (const Shape &s : shapes) {
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " vocab=" + std::to_string(s.vocab));
      int64_t count = 1;
      for (int64_t d : s.ids)
        count *= d;
      HostTensor ids = int32s(s.ids, randomIds(count, s.vocab, rng));
      std::vector<int64_t> rowsShape = s.ids;
      rowsShape.push_back(s.width);
      KernelResults r;
      ASSERT_TRUE(runBoth({"embedding",
                           {ids, randomFloats(dtype, {s.vocab, s.width}, rng)},
                           {outputLike(dtype, rowsShape)}},
                          r));
      EXPECT_TRUE(identical("result", r.cuda[0], r.cpu[0]));
      ASSERT_TRUE(runBoth({"embedding_grad",
                           {ids, randomFloats(dtype, rowsShape, rng)},
                           {outputLike(dtype, {s.vocab, s.width})}},
                          r));
      if (dtype == DType::F32)
        EXPECT_TRUE(identical("table_grad", r.cuda[0], r.cpu[0]));
      else
        EXPECT_TRUE(allClose("table_grad", r.cuda[0], r.cpu[0], kBf16Rtol, kBf16Atol));
    }
}

TEST(CudaCrossEntropy, LossAndGradMatchCpu) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(31);
  struct Shape {
    std::vector<int64_t> rows;
    int32_t vocab;
  };
  const Shape shapes[] = {{{1}, 2}, {{3, 17}, 1000}, {{2, 8}, 32000}};
  for (DType dtype : {DType::F32, DType::BF16})
    for (const Shape &s : shapes)
      for (bool someIgnored : {false, true}) {
        SCOPED_TRACE(std::string(dtypeName(dtype)) + " vocab=" + std::to_string(s.vocab) +
                     (someIgnored ? " with ignored labels" : ""));
        int64_t rows = 1;
        for (int64_t d : s.rows)
          rows *= d;
        std::vector<int32_t> labels = randomIds(rows, s.vocab, rng);
        if (someIgnored)
          for (size_t i = 0; i < labels.size(); i += 3)
            labels[i] = -100;
        std::vector<int64_t> logitsShape = s.rows;
        logitsShape.push_back(s.vocab);
        HostTensor logits = randomFloats(dtype, logitsShape, rng, -8.0f, 8.0f);
        HostTensor labelTensor = int32s(s.rows, labels);
        KernelResults r;
        ASSERT_TRUE(runBoth({"cross_entropy", {logits, labelTensor}, {outputLike(DType::F32, {})}}, r));
        EXPECT_TRUE(allClose("loss", r.cuda[0], r.cpu[0], 1e-5, 0.0));
        ASSERT_TRUE(runBoth({"cross_entropy_grad",
                             {logits, labelTensor, scalar(1.7f)},
                             {outputLike(dtype, logitsShape)}},
                            r));
        EXPECT_TRUE(allClose("logits_grad", r.cuda[0], r.cpu[0], rtolFor(dtype),
                             dtype == DType::BF16 ? kBf16Atol : 1e-5));
      }
}

TEST(CudaCrossEntropy, NoCountedLabelGivesZero) {
  DS_REQUIRE_CUDA();
  std::mt19937 rng(32);
  HostTensor logits = randomFloats(DType::F32, {4, 50}, rng);
  HostTensor labels = int32s({4}, {-100, -100, -100, -100});
  KernelResults r;
  ASSERT_TRUE(runBoth({"cross_entropy", {logits, labels}, {outputLike(DType::F32, {})}}, r));
  EXPECT_EQ(r.cuda[0].at(0), 0.0);
  ASSERT_TRUE(runBoth({"cross_entropy_grad", {logits, labels, scalar(1.0f)},
                       {outputLike(DType::F32, {4, 50})}},
                      r));
  EXPECT_TRUE(identical("logits_grad", r.cuda[0], r.cpu[0]));
}

} // namespace
} // namespace ds::rt::gputest
