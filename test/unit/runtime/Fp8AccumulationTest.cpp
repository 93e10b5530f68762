// The emulated FP8 tensor-core accumulation of the linear kernels (kernel attribute
// fp8_promote_interval, set by ds-fp8-cast; runtime/kernels/cpu/Gemm.h): the 14-bit
// accumulator's rounding, the accuracy that promotion every 128 products recovers (V3
// report §3.3.2), exact agreement with a naive emulation in all six GEMM kernels, and
// the plain FP32 product when the attribute is 0 or absent.
#include "runtime/kernels/cpu/Gemm.h"
#include "test/unit/runtime/KernelTestUtil.h"

#include <functional>
#include <limits>

using namespace ds::rt;
using namespace ds::rt::test;
using ds::rt::cpu::roundToFp8Accumulator;

namespace {

KernelAttrs promoteAttrs(int64_t interval) {
  KernelAttrs attrs;
  attrs.setInt("fp8_promote_interval", interval);
  return attrs;
}

KernelAttrs blockAttrs(int64_t rows, int64_t cols) {
  KernelAttrs attrs;
  attrs.setInts("block", {rows, cols});
  return attrs;
}

/// `t` replaced by dequantize(quantize(t)) in blocks of [rows, cols]: the FP8 values
/// (times their scales) that the recipe's GEMMs see.
void toFp8(HostTensor &t, int64_t rows, int64_t cols) {
  std::vector<int64_t> scaleShape(t.shape);
  int64_t r = scaleShape.size();
  scaleShape[r - 2] = (scaleShape[r - 2] + rows - 1) / rows;
  scaleShape[r - 1] = (scaleShape[r - 1] + cols - 1) / cols;
  HostTensor values(DType::F8E4M3, t.shape), scales(DType::F32, scaleShape);
  DS_EXPECT_KERNEL_OK(runKernel("quantize", {&t}, {&values, &scales}, blockAttrs(rows, cols)));
  DS_EXPECT_KERNEL_OK(runKernel("dequantize", {&values, &scales}, {&t}, blockAttrs(rows, cols)));
}

/// Uniform in [lo, hi] from a fixed seed: all positive, so that sums grow with K as
/// they do in the report's K = 4096 experiment.
HostTensor positiveTensor(std::vector<int64_t> shape, uint32_t seed, float lo, float hi) {
  HostTensor t(DType::F32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(lo, hi);
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.set(i, value(rng));
  return t;
}

/// c[i, j] = sum_p a(i, p) * b(p, j) with the accumulation of Gemm.h, written the obvious
/// way: runs of `interval` products in the 14-bit accumulator, promoted into FP32.
std::vector<float> naivePromoted(int64_t m, int64_t n, int64_t k, int64_t interval,
                                 const std::function<float(int64_t, int64_t)> &a,
                                 const std::function<float(int64_t, int64_t)> &b) {
  std::vector<float> c(m * n, 0.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p0 = 0; p0 < k; p0 += interval) {
        float run = 0.0f;
        for (int64_t p = p0; p < std::min(k, p0 + interval); ++p) {
          float product = a(i, p) * b(p, j);
          run = roundToFp8Accumulator(run + product);
        }
        c[i * n + j] += run;
      }
  return c;
}

void expectBitwiseEqual(const std::vector<float> &actual, const std::vector<float> &expected,
                        const std::string &what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    ASSERT_EQ(actual[i], expected[i]) << what << " element " << i;
}

/// Largest |actual - exact| / |exact| over the elements.
double maxRelativeError(const std::vector<float> &actual, const std::vector<double> &exact) {
  double worst = 0.0;
  for (size_t i = 0; i < actual.size(); ++i)
    worst = std::max(worst, std::fabs(actual[i] - exact[i]) / std::fabs(exact[i]));
  return worst;
}

TEST(Fp8Accumulator, RoundsToThirteenMantissaBitsNearestEven) {
  const float ulp = std::ldexp(1.0f, -13); // the accumulator's ulp at 1
  EXPECT_EQ(roundToFp8Accumulator(1.0f), 1.0f);
  EXPECT_EQ(roundToFp8Accumulator(1.0f + ulp), 1.0f + ulp);
  // Below half an ulp down, above half an ulp up.
  EXPECT_EQ(roundToFp8Accumulator(1.0f + 0.25f * ulp), 1.0f);
  EXPECT_EQ(roundToFp8Accumulator(1.0f + 0.75f * ulp), 1.0f + ulp);
  // Ties go to the even neighbour.
  EXPECT_EQ(roundToFp8Accumulator(1.0f + 0.5f * ulp), 1.0f);
  EXPECT_EQ(roundToFp8Accumulator(1.0f + 1.5f * ulp), 1.0f + 2.0f * ulp);
  EXPECT_EQ(roundToFp8Accumulator(-(1.0f + 1.5f * ulp)), -(1.0f + 2.0f * ulp));
  // A carry out of the mantissa moves into the exponent.
  EXPECT_EQ(roundToFp8Accumulator(2.0f - 0.5f * ulp), 2.0f);
  // Small numbers keep their relative precision; zero, infinities and NaN pass.
  EXPECT_EQ(roundToFp8Accumulator(std::ldexp(1.0f + 0.75f * ulp, -100)),
            std::ldexp(1.0f + ulp, -100));
  EXPECT_EQ(roundToFp8Accumulator(0.0f), 0.0f);
  EXPECT_EQ(roundToFp8Accumulator(std::numeric_limits<float>::infinity()),
            std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(roundToFp8Accumulator(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(roundToFp8Accumulator(std::numeric_limits<float>::max()),
            std::numeric_limits<float>::infinity());
}

// The experiment of V3 report §3.3.2: FP8 operands, K = 4096. Summing all 4096 products
// in the 14-bit accumulator loses accuracy as the sum grows; promoting each run of 128
// into FP32 keeps every run's sum small and recovers most of it.
TEST(Fp8Accumulation, PromotionEvery128RecoversTheLimitedAccumulatorsLoss) {
  const int64_t rows = 4, outFeatures = 8, k = 4096;
  HostTensor x = positiveTensor({rows, k}, 11, 0.25f, 1.0f);
  HostTensor w = positiveTensor({outFeatures, k}, 12, 0.25f, 1.0f);
  toFp8(x, 1, 128);
  toFp8(w, 128, 128);
  std::vector<double> exact(rows * outFeatures, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < outFeatures; ++o)
      for (int64_t p = 0; p < k; ++p)
        exact[r * outFeatures + o] += double(x.at(r * k + p)) * w.at(o * k + p);

  HostTensor plain(DType::F32, {rows, outFeatures}), unpromoted = plain, promoted = plain;
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&plain}));
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&unpromoted}, promoteAttrs(k)));
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&promoted}, promoteAttrs(128)));
  double plainError = maxRelativeError(plain.floats(), exact);
  double unpromotedError = maxRelativeError(unpromoted.floats(), exact);
  double promotedError = maxRelativeError(promoted.floats(), exact);
  RecordProperty("plain_fp32_max_rel_error", std::to_string(plainError));
  RecordProperty("unpromoted_max_rel_error", std::to_string(unpromotedError));
  RecordProperty("promoted_128_max_rel_error", std::to_string(promotedError));
  std::printf("max relative error: fp32 %.3g, 14-bit without promotion %.3g, "
              "promoted every 128 %.3g\n",
              plainError, unpromotedError, promotedError);
  EXPECT_LT(plainError, 1e-5);
  EXPECT_GT(unpromotedError, 1e-3);
  EXPECT_LT(promotedError, 2e-4);
  EXPECT_LT(promotedError * 10, unpromotedError);
}

TEST(Fp8Accumulation, ZeroOrAbsentIsThePlainFp32Product) {
  HostTensor x = randomTensor({3, 5, 300}, 21), w = randomTensor({7, 300}, 22);
  HostTensor absent(DType::F32, {3, 5, 7}), zero = absent, promoted = absent;
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&absent}));
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&zero}, promoteAttrs(0)));
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&promoted}, promoteAttrs(128)));
  expectBitwiseEqual(zero.floats(), absent.floats(), "interval 0 against absent");
  // The attribute is read: the emulated accumulation does change the bits.
  EXPECT_NE(promoted.floats(), absent.floats());
  // The plain product is the ascending FP32 sum.
  std::vector<float> oneLimitedRun = naivePromoted(
      15, 7, 300, 300, [&](int64_t i, int64_t p) { return x.at(i * 300 + p); },
      [&](int64_t p, int64_t j) { return w.at(j * 300 + p); });
  std::vector<float> ascending(15 * 7, 0.0f);
  for (int64_t i = 0; i < 15; ++i)
    for (int64_t j = 0; j < 7; ++j)
      for (int64_t p = 0; p < 300; ++p) {
        float product = x.at(i * 300 + p) * w.at(j * 300 + p);
        ascending[i * 7 + j] += product;
      }
  expectBitwiseEqual(absent.floats(), ascending, "plain against the ascending FP32 sum");
  EXPECT_NE(oneLimitedRun, ascending) << "the 14-bit accumulator must differ from FP32 here";
}

// Every GEMM kernel applies the emulation along its own reduced dimension: K for linear,
// N for dgrad, the rows for wgrad; per expert for the grouped kernels. Sizes leave a
// partial last run (300 = 2 x 128 + 44) and a row count that is not a multiple of 4.
TEST(Fp8Accumulation, EveryLinearKernelMatchesTheNaiveEmulation) {
  const int64_t rows = 7, n = 300, k = 260, interval = 128;
  HostTensor x = randomTensor({rows, k}, 31), w = randomTensor({n, k}, 32);
  HostTensor dy = randomTensor({rows, n}, 33);
  auto at = [](const HostTensor &t, int64_t cols) {
    return [&t, cols](int64_t r, int64_t c) { return t.at(r * cols + c); };
  };
  auto transposedAt = [](const HostTensor &t, int64_t cols) {
    return [&t, cols](int64_t r, int64_t c) { return t.at(c * cols + r); };
  };

  HostTensor y(DType::F32, {rows, n}), dx(DType::F32, {rows, k}), dw(DType::F32, {n, k});
  DS_EXPECT_KERNEL_OK(runKernel("linear", {&x, &w}, {&y}, promoteAttrs(interval)));
  DS_EXPECT_KERNEL_OK(runKernel("linear_dgrad", {&dy, &w}, {&dx}, promoteAttrs(interval)));
  DS_EXPECT_KERNEL_OK(runKernel("linear_wgrad", {&dy, &x}, {&dw}, promoteAttrs(interval)));
  expectBitwiseEqual(y.floats(), naivePromoted(rows, n, k, interval, at(x, k), transposedAt(w, k)),
                     "linear");
  expectBitwiseEqual(dx.floats(), naivePromoted(rows, k, n, interval, at(dy, n), at(w, k)),
                     "linear_dgrad");
  expectBitwiseEqual(dw.floats(),
                     naivePromoted(n, k, rows, interval, transposedAt(dy, n), at(x, k)),
                     "linear_wgrad");

  // Grouped: 3 experts own rows [0, 150), none, [150, 280); the wgrad reduces over each
  // expert's rows, so its runs restart at row 150.
  const int64_t groupRows = 280;
  HostTensor gx = randomTensor({groupRows, k}, 34), gdy = randomTensor({groupRows, n}, 35);
  HostTensor gw = randomTensor({3, n, k}, 36);
  HostTensor counts = indexTensor({3}, {150, 0, 130});
  const int64_t offsets[] = {0, 150, 150, 280};
  HostTensor gy(DType::F32, {groupRows, n}), gdx(DType::F32, {groupRows, k});
  HostTensor gdw(DType::F32, {3, n, k});
  DS_EXPECT_KERNEL_OK(
      runKernel("grouped_linear", {&gx, &gw, &counts}, {&gy}, promoteAttrs(interval)));
  DS_EXPECT_KERNEL_OK(
      runKernel("grouped_linear_dgrad", {&gdy, &gw, &counts}, {&gdx}, promoteAttrs(interval)));
  DS_EXPECT_KERNEL_OK(
      runKernel("grouped_linear_wgrad", {&gdy, &gx, &counts}, {&gdw}, promoteAttrs(interval)));
  std::vector<float> gyAll = gy.floats(), gdxAll = gdx.floats(), gdwAll = gdw.floats();
  for (int64_t e = 0; e < 3; ++e) {
    int64_t first = offsets[e], count = offsets[e + 1] - offsets[e];
    auto xRows = [&](int64_t r, int64_t c) { return gx.at((first + r) * k + c); };
    auto dyRows = [&](int64_t r, int64_t c) { return gdy.at((first + r) * n + c); };
    auto we = [&](int64_t o, int64_t i) { return gw.at((e * n + o) * k + i); };
    std::string expert = " expert " + std::to_string(e);
    std::vector<float> yExpected = naivePromoted(
        count, n, k, interval, xRows, [&](int64_t p, int64_t j) { return we(j, p); });
    expectBitwiseEqual(std::vector<float>(gyAll.begin() + first * n,
                                          gyAll.begin() + (first + count) * n),
                       yExpected, "grouped_linear" + expert);
    std::vector<float> dxExpected = naivePromoted(count, k, n, interval, dyRows, we);
    expectBitwiseEqual(std::vector<float>(gdxAll.begin() + first * k,
                                          gdxAll.begin() + (first + count) * k),
                       dxExpected, "grouped_linear_dgrad" + expert);
    std::vector<float> dwExpected = naivePromoted(
        n, k, count, interval, [&](int64_t o, int64_t p) { return dyRows(p, o); }, xRows);
    expectBitwiseEqual(std::vector<float>(gdwAll.begin() + e * n * k,
                                          gdwAll.begin() + (e + 1) * n * k),
                       dwExpected, "grouped_linear_wgrad" + expert);
  }
}

TEST(Fp8Accumulation, NegativeIntervalIsAnError) {
  HostTensor x = randomTensor({2, 8}, 41), w = randomTensor({3, 8}, 42);
  HostTensor y(DType::F32, {2, 3});
  Status status = runKernel("linear", {&x, &w}, {&y}, promoteAttrs(-1));
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("linear: fp8_promote_interval = -1 is negative"),
            std::string::npos)
      << status.message();
}

} // namespace
