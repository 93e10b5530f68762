// BF16 and FP8 E4M3FN emulation (runtime/core/Bf16.h, Fp8.h): exact encodings, rounding
// to nearest even, saturation, subnormals, NaN.
#include "runtime/core/Bf16.h"
#include "runtime/core/Fp8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace ds::rt;

namespace {

TEST(NumericBf16, ExactValuesAndTiesToEven) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(-2.0f), 0xc000);
  // bf16 keeps 7 fraction bits: 1 + 2^-8 is half-way between 1 and 1 + 2^-7.
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);     // to even (0)
  EXPECT_EQ(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82); // to even (2)
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81); // above half
  EXPECT_EQ(bf16ToFloat(0x3f81), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7f80); // rounds up to inf
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
  EXPECT_EQ(floatToBf16(-0.0f), 0x8000);
}

TEST(NumericFp8, DecodesTheE4m3fnTable) {
  EXPECT_EQ(e4m3ToFloat(0x38), 1.0f);   // exponent 7 = bias
  EXPECT_EQ(e4m3ToFloat(0x7e), 448.0f); // largest finite
  EXPECT_EQ(e4m3ToFloat(0xfe), -448.0f);
  EXPECT_EQ(e4m3ToFloat(0x08), std::ldexp(1.0f, -6));     // smallest normal
  EXPECT_EQ(e4m3ToFloat(0x01), std::ldexp(1.0f, -9));     // smallest subnormal
  EXPECT_EQ(e4m3ToFloat(0x07), 7 * std::ldexp(1.0f, -9)); // largest subnormal
  EXPECT_EQ(e4m3ToFloat(0x3b), 1.375f);
  EXPECT_TRUE(std::isnan(e4m3ToFloat(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3ToFloat(0xff)));
  EXPECT_EQ(e4m3ToFloat(0x78), 256.0f); // exponent 15 is finite in the FN variant
}

TEST(NumericFp8, SaturatesAndKeepsNaN) {
  EXPECT_EQ(floatToE4m3(448.0f), 0x7e);
  EXPECT_EQ(floatToE4m3(449.0f), 0x7e);
  EXPECT_EQ(floatToE4m3(464.0f), 0x7e); // would round to 480, which does not exist
  EXPECT_EQ(floatToE4m3(1e9f), 0x7e);
  EXPECT_EQ(floatToE4m3(-1e9f), 0xfe);
  EXPECT_EQ(floatToE4m3(INFINITY), 0x7e);
  EXPECT_EQ(floatToE4m3(-INFINITY), 0xfe);
  EXPECT_EQ(floatToE4m3(NAN) & 0x7f, 0x7f);
  EXPECT_EQ(floatToE4m3(440.0f), 0x7e); // 440 is nearer 448 than 416
}

TEST(NumericFp8, RoundsToNearestEven) {
  // In [1, 2) the step is 1/8.
  EXPECT_EQ(floatToE4m3(1.0625f), 0x38); // half-way 1.0 | 1.125 -> even mantissa 0
  EXPECT_EQ(floatToE4m3(1.1875f), 0x3a); // half-way 1.125 | 1.25 -> even mantissa 2
  EXPECT_EQ(floatToE4m3(1.07f), 0x39);
  EXPECT_EQ(floatToE4m3(1.96875f), 0x40); // half-way 1.9375 | 2.0: carries into 2^1
  // Subnormals step by 2^-9.
  float sub = std::ldexp(1.0f, -9);
  EXPECT_EQ(floatToE4m3(sub), 0x01);
  EXPECT_EQ(floatToE4m3(0.5f * sub), 0x00); // half-way 0 | 2^-9 -> 0
  EXPECT_EQ(floatToE4m3(0.51f * sub), 0x01);
  EXPECT_EQ(floatToE4m3(1.5f * sub), 0x02); // half-way 1 | 2 -> 2
  EXPECT_EQ(floatToE4m3(2.5f * sub), 0x02); // half-way 2 | 3 -> 2
  EXPECT_EQ(floatToE4m3(7.5f * sub), 0x08); // half-way 7 | 8: into the smallest normal
  EXPECT_EQ(floatToE4m3(-3.0f * sub), 0x83);
  EXPECT_EQ(floatToE4m3(1e-30f), 0x00);
  EXPECT_EQ(floatToE4m3(-1e-30f), 0x80);
}

TEST(NumericFp8, EveryCodeRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7f) == 0x7f)
      continue;
    EXPECT_EQ(floatToE4m3(e4m3ToFloat(static_cast<uint8_t>(code))), code) << code;
  }
}

// Brute force: the encoding is the nearest finite code, ties to the even code.
TEST(NumericFp8, MatchesBruteForceNearest) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-12.0f, 9.0f);
  for (int trial = 0; trial < 20000; ++trial) {
    float x = std::exp2(exponent(rng)) * (trial % 2 ? -1.0f : 1.0f);
    if (std::fabs(x) > 448.0f)
      continue;
    int best = -1;
    double bestDistance = INFINITY;
    for (int code = 0; code < 256; ++code) {
      if ((code & 0x7f) == 0x7f || (code & 0x80) != (x < 0 ? 0x80 : 0))
        continue;
      double distance = std::fabs(static_cast<double>(e4m3ToFloat(code)) - x);
      if (distance < bestDistance || (distance == bestDistance && (code & 1) == 0)) {
        best = code;
        bestDistance = distance;
      }
    }
    ASSERT_EQ(floatToE4m3(x), best) << x;
  }
}

} // namespace
