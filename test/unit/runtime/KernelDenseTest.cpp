// Forward kernels of the dense path against naive double-precision references:
// embedding, rms_norm, linear, rope, attention, swiglu, add/mul/scale/convert,
// cross_entropy; and BF16 storage through the shared float I/O.
#include "test/unit/runtime/KernelTestUtil.h"

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

TEST(KernelEmbedding, GathersRows) {
  HostTensor ids = indexTensor({2, 2}, {3, 0, 3, 1});
  HostTensor table = randomTensor({4, 5}, 1);
  HostTensor out(DType::F32, {2, 2, 5});
  DS_EXPECT_KERNEL_OK(runKernel("embedding", {&ids, &table}, {&out}));
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t j = 0; j < 5; ++j)
      EXPECT_EQ(out.at(t * 5 + j), table.at(ids.index(t) * 5 + j));
}

TEST(KernelRmsNorm, MatchesNaive) {
  HostTensor x = randomTensor({3, 8}, 2), w = randomTensor({8}, 3);
  HostTensor out(DType::F32, {3, 8});
  KernelAttrs attrs;
  attrs.setFloat("eps", 1e-6);
  DS_EXPECT_KERNEL_OK(runKernel("rms_norm", {&x, &w}, {&out}, attrs));
  std::vector<double> expected;
  for (int r = 0; r < 3; ++r) {
    double ms = 0;
    for (int j = 0; j < 8; ++j)
      ms += double(x.at(r * 8 + j)) * x.at(r * 8 + j) / 8;
    for (int j = 0; j < 8; ++j)
      expected.push_back(x.at(r * 8 + j) / std::sqrt(ms + 1e-6) * w.at(j));
  }
  expectClose(out.floats(), expected, 1e-6, 1e-5);
}

std::vector<double> naiveLinear(const HostTensor &x, const HostTensor &w, int64_t rows, int64_t n,
                                int64_t k) {
  std::vector<double> y(rows * n, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < n; ++o)
      for (int64_t i = 0; i < k; ++i)
        y[r * n + o] += double(x.at(r * k + i)) * w.at(o * k + i);
  return y;
}

TEST(KernelLinear, MatchesNaiveWithOddSizes) {
  // 7 rows (not a multiple of the 4-row block), 600 columns (more than one column tile).
  HostTensor x = randomTensor({7, 13}, 4), w = randomTensor({600, 13}, 5);
  HostTensor out(DType::F32, {7, 600});
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&out}));
  expectClose(out.floats(), naiveLinear(x, w, 7, 600, 13), 1e-5, 1e-5);
}

TEST(KernelLinear, Bf16StorageRoundsResultToNearestEven) {
  HostTensor x = randomTensor({2, 3, 16}, 6, 1.0f, DType::BF16);
  HostTensor w = randomTensor({5, 16}, 7, 1.0f, DType::BF16);
  HostTensor out(DType::BF16, {2, 3, 5});
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&out}));
  std::vector<double> expected = naiveLinear(x, w, 6, 5, 16);
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(out.at(i), roundToBf16(static_cast<float>(expected[i]))) << i;
}

KernelAttrs ropeAttrs(bool interleaved) {
  KernelAttrs attrs;
  attrs.setFloat("theta", 10000.0);
  attrs.setInt("interleaved", interleaved ? 1 : 0);
  return attrs;
}

// Pairs rotate by pos * theta^(-2i/D); (i, i + D/2) pairing or (2i, 2i+1).
void checkRope(bool interleaved) {
  const int64_t batch = 2, seq = 5, heads = 3, dim = 8;
  HostTensor x = randomTensor({batch, seq, heads, dim}, 8);
  HostTensor out(DType::F32, x.shape);
  DS_EXPECT_KERNEL_OK(runKernel("rope", {&x}, {&out}, ropeAttrs(interleaved)));
  std::vector<double> expected(x.numElements());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < dim / 2; ++i) {
          int64_t base = ((b * seq + s) * heads + h) * dim;
          int64_t first = base + (interleaved ? 2 * i : i);
          int64_t second = base + (interleaved ? 2 * i + 1 : i + dim / 2);
          double angle = s * std::pow(10000.0, -2.0 * i / dim);
          double re = x.at(first), im = x.at(second);
          expected[first] = re * std::cos(angle) - im * std::sin(angle);
          expected[second] = re * std::sin(angle) + im * std::cos(angle);
        }
  expectClose(out.floats(), expected, 1e-6, 1e-5);
}

TEST(KernelRope, RotateHalfLayout) { checkRope(false); }
TEST(KernelRope, InterleavedLayout) { checkRope(true); }

// YaRN frequencies computed independently with HF `_compute_yarn_parameters` (dim 16,
// theta 1e4, factor 40, original 4096, beta 32/1: correction range [2, 6]).
TEST(KernelRope, YarnFrequenciesAndAttentionFactor) {
  const double invFreq[8] = {1.0,      0.31622776601683794,   0.1,     0.023914724805023366,
                             0.005125, 0.0008498621211702518, 2.5e-05, 7.905694150420947e-06};
  const int64_t seq = 300, dim = 16;
  HostTensor x(DType::F32, {1, seq, 1, dim});
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t i = 0; i < dim / 2; ++i)
      x.set(s * dim + i, 1.0f); // (1, 0) in every rotate-half pair
  HostTensor out(DType::F32, x.shape);
  KernelAttrs attrs = ropeAttrs(false);
  attrs.setFloat("yarn_factor", 40.0);
  attrs.setInt("yarn_original_max_position", 4096);
  attrs.setFloat("yarn_attention_factor", 1.25);
  DS_EXPECT_KERNEL_OK(runKernel("rope", {&x}, {&out}, attrs));
  for (int64_t s = 0; s < seq; s += 37)
    for (int64_t i = 0; i < dim / 2; ++i) {
      EXPECT_NEAR(out.at(s * dim + i), 1.25 * std::cos(s * invFreq[i]), 2e-5) << s << " " << i;
      EXPECT_NEAR(out.at(s * dim + i + 8), 1.25 * std::sin(s * invFreq[i]), 2e-5) << s << " " << i;
    }
}

std::vector<double> naiveAttention(const HostTensor &q, const HostTensor &k, const HostTensor &v,
                                   double scale, bool causal) {
  int64_t batch = q.shape[0], seq = q.shape[1], heads = q.shape[2], dqk = q.shape[3];
  int64_t dv = v.shape[3];
  std::vector<double> out(batch * seq * heads * dv, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < seq; ++i) {
        int64_t keys = causal ? i + 1 : seq;
        std::vector<double> p(keys);
        double maxScore = -INFINITY, sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < dqk; ++c)
            dot += double(q.at(((b * seq + i) * heads + h) * dqk + c)) *
                   k.at(((b * seq + j) * heads + h) * dqk + c);
          p[j] = dot * scale;
          maxScore = std::max(maxScore, p[j]);
        }
        for (double &x : p)
          sum += (x = std::exp(x - maxScore));
        for (int64_t j = 0; j < keys; ++j)
          for (int64_t c = 0; c < dv; ++c)
            out[((b * seq + i) * heads + h) * dv + c] +=
                p[j] / sum * v.at(((b * seq + j) * heads + h) * dv + c);
      }
  return out;
}

void checkAttention(bool causal) {
  HostTensor q = randomTensor({2, 6, 3, 5}, 9), k = randomTensor({2, 6, 3, 5}, 10);
  HostTensor v = randomTensor({2, 6, 3, 4}, 11); // Dqk 5 != Dv 4
  HostTensor out(DType::F32, {2, 6, 3, 4});
  KernelAttrs attrs;
  attrs.setFloat("scale", 0.7);
  attrs.setInt("causal", causal ? 1 : 0);
  DS_EXPECT_KERNEL_OK(runKernel("attention", {&q, &k, &v}, {&out}, attrs));
  expectClose(out.floats(), naiveAttention(q, k, v, 0.7, causal), 1e-6, 1e-5);
}

TEST(KernelAttention, CausalWithDifferentValueDim) { checkAttention(true); }
TEST(KernelAttention, NonCausal) { checkAttention(false); }

TEST(KernelAttention, CausalDefaultIgnoresLaterPositions) {
  HostTensor q = randomTensor({1, 4, 1, 2}, 12), k = randomTensor({1, 4, 1, 2}, 13);
  HostTensor v = randomTensor({1, 4, 1, 3}, 14);
  HostTensor before(DType::F32, {1, 4, 1, 3}), after(DType::F32, {1, 4, 1, 3});
  KernelAttrs attrs;
  attrs.setFloat("scale", 1.0); // causal left to its ODS default (true)
  DS_EXPECT_KERNEL_OK(runKernel("attention", {&q, &k, &v}, {&before}, attrs));
  for (int c = 0; c < 3; ++c)
    v.set(3 * 3 + c, NAN); // the last position's value
  k.set(3 * 2, 1e6f);
  DS_EXPECT_KERNEL_OK(runKernel("attention", {&q, &k, &v}, {&after}, attrs));
  for (int64_t i = 0; i < 9; ++i) // rows 0..2 cannot see position 3
    EXPECT_EQ(before.at(i), after.at(i)) << i;
}

TEST(KernelSwiglu, MatchesNaive) {
  HostTensor gateUp = randomTensor({3, 2, 10}, 15, 3.0f);
  HostTensor out(DType::F32, {3, 2, 5});
  DS_EXPECT_KERNEL_OK(runKernel("swiglu", {&gateUp}, {&out}));
  std::vector<double> expected;
  for (int r = 0; r < 6; ++r)
    for (int i = 0; i < 5; ++i) {
      double g = gateUp.at(r * 10 + i), u = gateUp.at(r * 10 + 5 + i);
      expected.push_back(g / (1 + std::exp(-g)) * u);
    }
  expectClose(out.floats(), expected, 1e-6, 1e-5);
}

TEST(KernelElementwise, AddMulScale) {
  HostTensor a = randomTensor({4, 3}, 16), b = randomTensor({4, 3}, 17);
  HostTensor sum(DType::F32, {4, 3}), product(DType::F32, {4, 3}), scaled(DType::F32, {4, 3});
  KernelAttrs attrs;
  attrs.setFloat("factor", -2.5);
  DS_EXPECT_KERNEL_OK(runKernel("add", {&a, &b}, {&sum}));
  DS_EXPECT_KERNEL_OK(runKernel("mul", {&a, &b}, {&product}));
  DS_EXPECT_KERNEL_OK(runKernel("scale", {&a}, {&scaled}, attrs));
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(sum.at(i), a.at(i) + b.at(i));
    EXPECT_EQ(product.at(i), a.at(i) * b.at(i));
    EXPECT_EQ(scaled.at(i), a.at(i) * -2.5f);
  }
}

TEST(KernelElementwise, AddInPlace) {
  HostTensor a = randomTensor({5}, 18), b = randomTensor({5}, 19);
  std::vector<float> expected;
  for (int i = 0; i < 5; ++i)
    expected.push_back(a.at(i) + b.at(i));
  DS_EXPECT_KERNEL_OK(runKernel("add", {&a, &b}, {&a}));
  EXPECT_EQ(a.floats(), expected);
}

TEST(KernelConvert, F32ToBf16RoundsToNearestEvenAndBack) {
  float tie = 1.0f + std::ldexp(1.0f, -8); // half-way between two bf16 values
  HostTensor x = floatTensor({3}, {tie, 1.0f + 3 * std::ldexp(1.0f, -8), -3.14159f});
  HostTensor half(DType::BF16, {3}), back(DType::F32, {3});
  DS_EXPECT_KERNEL_OK(runKernel("convert", {&x}, {&half}));
  DS_EXPECT_KERNEL_OK(runKernel("convert", {&half}, {&back}));
  EXPECT_EQ(back.at(0), 1.0f);
  EXPECT_EQ(back.at(1), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(back.at(2), roundToBf16(-3.14159f));
  EXPECT_NE(back.at(2), -3.14159f);
}

TEST(KernelCrossEntropy, MeanOverCountedLabels) {
  HostTensor logits = randomTensor({2, 3, 7}, 20, 3.0f);
  HostTensor labels = indexTensor({2, 3}, {4, -100, 0, 6, 2, -100});
  HostTensor loss(DType::F32, {});
  DS_EXPECT_KERNEL_OK(runKernel("cross_entropy", {&logits, &labels}, {&loss}));
  double total = 0;
  int counted = 0;
  for (int r = 0; r < 6; ++r) {
    if (labels.index(r) == -100)
      continue;
    double sum = 0;
    for (int j = 0; j < 7; ++j)
      sum += std::exp(double(logits.at(r * 7 + j)));
    total += std::log(sum) - logits.at(r * 7 + labels.index(r));
    ++counted;
  }
  EXPECT_NEAR(loss.at(0), total / counted, 1e-6);
}

TEST(KernelCrossEntropy, CustomIgnoreIndexAndNothingCounted) {
  HostTensor logits = randomTensor({2, 4}, 21);
  HostTensor labels = indexTensor({2}, {7, 7});
  HostTensor loss = scalarTensor(123.0f);
  KernelAttrs attrs;
  attrs.setInt("ignore_index", 7);
  DS_EXPECT_KERNEL_OK(runKernel("cross_entropy", {&logits, &labels}, {&loss}, attrs));
  EXPECT_EQ(loss.at(0), 0.0f);
}

} // namespace
