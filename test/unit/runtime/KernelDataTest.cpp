// Data-movement and quantization kernels: quantize/dequantize with block scales,
// slice (including i32 token windows), concat, reshape, expand.
#include "runtime/core/Fp8.h"
#include "test/unit/runtime/KernelTestUtil.h"

using namespace ds::rt;
using namespace ds::rt::test;

namespace {

KernelAttrs blockAttrs(int64_t rows, int64_t cols) {
  KernelAttrs attrs;
  attrs.setInts("block", {rows, cols});
  return attrs;
}

// [2, 3, 5] in [2, 2] blocks: 2 x 3 blocks per matrix, the last row and column partial.
TEST(KernelQuantize, BlockScalesAndValues) {
  HostTensor x = randomTensor({2, 3, 5}, 40, 10.0f);
  for (int c = 0; c < 2; ++c) // matrix 1, block (0, 0) is all zeros
    for (int r = 0; r < 2; ++r)
      x.set(15 + r * 5 + c, 0.0f);
  HostTensor values(DType::F8E4M3, {2, 3, 5}), scales(DType::F32, {2, 2, 3});
  DS_EXPECT_KERNEL_OK(runKernel("quantize", {&x}, {&values, &scales}, blockAttrs(2, 2)));
  for (int b = 0; b < 2; ++b)
    for (int br = 0; br < 2; ++br)
      for (int bc = 0; bc < 3; ++bc) {
        float amax = 0;
        for (int r = br * 2; r < std::min(3, br * 2 + 2); ++r)
          for (int c = bc * 2; c < std::min(5, bc * 2 + 2); ++c)
            amax = std::max(amax, std::fabs(x.at(b * 15 + r * 5 + c)));
        float scale = scales.at((b * 2 + br) * 3 + bc);
        EXPECT_EQ(scale, amax == 0 ? 1.0f : amax / 448.0f) << b << br << bc;
        for (int r = br * 2; r < std::min(3, br * 2 + 2); ++r)
          for (int c = bc * 2; c < std::min(5, bc * 2 + 2); ++c) {
            int i = b * 15 + r * 5 + c;
            uint8_t code = values.bytes[i];
            EXPECT_EQ(code, floatToE4m3(x.at(i) / scale)) << i;
            if (std::fabs(x.at(i)) == amax && amax > 0) // the block maximum maps onto 448
              EXPECT_EQ(code & 0x7f, 0x7e) << i;
          }
      }
  EXPECT_EQ(scales.at(6), 1.0f); // the zero block
}

TEST(KernelQuantize, DequantizeRecoversWithinE4m3Precision) {
  HostTensor x = randomTensor({4, 256}, 41, 3.0f);
  HostTensor values(DType::F8E4M3, {4, 256}), scales(DType::F32, {4, 2});
  HostTensor back(DType::F32, {4, 256});
  DS_EXPECT_KERNEL_OK(runKernel("quantize", {&x}, {&values, &scales}, blockAttrs(1, 128)));
  DS_EXPECT_KERNEL_OK(runKernel("dequantize", {&values, &scales}, {&back}, blockAttrs(1, 128)));
  for (int64_t i = 0; i < x.numElements(); ++i) {
    float scale = scales.at((i / 256) * 2 + (i % 256) / 128);
    EXPECT_EQ(back.at(i), e4m3ToFloat(values.bytes[i]) * scale);
    // 3 mantissa bits: relative error <= 2^-4 for normals, 2^-10 * scale below.
    EXPECT_LE(std::fabs(back.at(i) - x.at(i)),
              std::max(std::fabs(x.at(i)) / 16.0f, scale * std::ldexp(1.0f, -10)) * 1.0001f)
        << i;
  }
}

TEST(KernelQuantize, Bf16ScalesAreTheOnesUsed) {
  HostTensor x = randomTensor({1, 128}, 42, 5.0f);
  HostTensor values(DType::F8E4M3, {1, 128}), scales(DType::BF16, {1, 1});
  DS_EXPECT_KERNEL_OK(runKernel("quantize", {&x}, {&values, &scales}, blockAttrs(1, 128)));
  for (int64_t i = 0; i < 128; ++i)
    EXPECT_EQ(values.bytes[i], floatToE4m3(x.at(i) / scales.at(0))) << i;
}

TEST(KernelSlice, TokenWindowOfI32) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < 14; ++i)
    tokens.push_back(100 + i);
  HostTensor window = indexTensor({2, 7}, tokens), labels(DType::I32, {2, 5});
  KernelAttrs attrs;
  attrs.setInt("dim", 1);
  attrs.setInt("offset", 1);
  attrs.setInt("size", 5);
  DS_EXPECT_KERNEL_OK(runKernel("slice", {&window}, {&labels}, attrs));
  EXPECT_EQ(labels.indices(),
            (std::vector<int32_t>{101, 102, 103, 104, 105, 108, 109, 110, 111, 112}));
}

TEST(KernelSlice, FloatsAlongMiddleDimWithNegativeDim) {
  HostTensor x = randomTensor({2, 4, 3}, 43), part(DType::F32, {2, 2, 3});
  KernelAttrs attrs;
  attrs.setInt("dim", -2);
  attrs.setInt("offset", 2);
  attrs.setInt("size", 2);
  DS_EXPECT_KERNEL_OK(runKernel("slice", {&x}, {&part}, attrs));
  for (int b = 0; b < 2; ++b)
    for (int s = 0; s < 2; ++s)
      for (int c = 0; c < 3; ++c)
        EXPECT_EQ(part.at((b * 2 + s) * 3 + c), x.at((b * 4 + s + 2) * 3 + c));
}

TEST(KernelConcat, AlongDimOneWithMixedDtypes) {
  HostTensor a = randomTensor({2, 1, 3}, 44), b = randomTensor({2, 2, 3}, 45, 1.0f, DType::BF16);
  HostTensor out(DType::F32, {2, 3, 3});
  KernelAttrs attrs;
  attrs.setInt("dim", 1);
  DS_EXPECT_KERNEL_OK(runKernel("concat", {&a, &b}, {&out}, attrs));
  for (int o = 0; o < 2; ++o)
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(out.at(o * 9 + c), a.at(o * 3 + c));
      EXPECT_EQ(out.at(o * 9 + 3 + c), b.at(o * 6 + c));
      EXPECT_EQ(out.at(o * 9 + 6 + c), b.at(o * 6 + 3 + c));
    }
}

TEST(KernelReshape, CopiesRowMajorData) {
  HostTensor x = randomTensor({2, 6}, 46), y(DType::F32, {3, 2, 2});
  DS_EXPECT_KERNEL_OK(runKernel("reshape", {&x}, {&y}));
  EXPECT_EQ(x.floats(), y.floats());
  EXPECT_NE(x.bytes.data(), y.bytes.data());
}

TEST(KernelExpand, BroadcastsSizeOneAndLeadingDims) {
  HostTensor x = randomTensor({3, 1}, 47), y(DType::F32, {2, 3, 4});
  DS_EXPECT_KERNEL_OK(runKernel("expand", {&x}, {&y}));
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c)
        EXPECT_EQ(y.at((a * 3 + b) * 4 + c), x.at(b));
}

} // namespace
