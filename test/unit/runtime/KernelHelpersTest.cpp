// The runtime helpers ds-lower-to-exec emits besides the ds ops: "fill" and "copy".
#include "test/unit/runtime/KernelTestUtil.h"

#include <gtest/gtest.h>

namespace ds::rt::test {
namespace {

TEST(KernelHelpers, FillWritesTheValueInEveryFloatAndIndexDtype) {
  KernelAttrs attrs;
  attrs.setFloat("value", 1.5);
  HostTensor f32 = randomTensor({3, 5}, 1);
  DS_EXPECT_KERNEL_OK(runKernel("fill", {}, {&f32}, attrs));
  for (float v : f32.floats())
    EXPECT_EQ(v, 1.5f);
  HostTensor bf16 = randomTensor({7}, 2, 1.0f, DType::BF16);
  DS_EXPECT_KERNEL_OK(runKernel("fill", {}, {&bf16}, attrs));
  for (float v : bf16.floats())
    EXPECT_EQ(v, 1.5f);
  attrs.setFloat("value", -3.0);
  HostTensor ids = indexTensor({4}, {9, 9, 9, 9});
  DS_EXPECT_KERNEL_OK(runKernel("fill", {}, {&ids}, attrs));
  EXPECT_EQ(ids.indices(), (std::vector<int32_t>{-3, -3, -3, -3}));
}

TEST(KernelHelpers, FillRejectsAValueAnIndexCannotHoldAndAMissingValue) {
  KernelAttrs attrs;
  attrs.setFloat("value", 0.5);
  HostTensor ids = indexTensor({2}, {1, 2});
  Status status = runKernel("fill", {}, {&ids}, attrs);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("not representable in the i32 result"), std::string::npos);
  HostTensor f32 = randomTensor({2}, 3);
  status = runKernel("fill", {}, {&f32}, KernelAttrs());
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("value"), std::string::npos) << status.message();
}

TEST(KernelHelpers, CopyIsBitExactAndRefusesToConvert) {
  HostTensor input = randomTensor({4, 3}, 4);
  HostTensor result(DType::F32, {4, 3});
  DS_EXPECT_KERNEL_OK(runKernel("copy", {&input}, {&result}));
  EXPECT_EQ(result.bytes, input.bytes);
  HostTensor ids = indexTensor({3}, {5, -1, 7});
  HostTensor idsCopy(DType::I32, {3});
  DS_EXPECT_KERNEL_OK(runKernel("copy", {&ids}, {&idsCopy}));
  EXPECT_EQ(idsCopy.indices(), ids.indices());
  HostTensor bf16(DType::BF16, {4, 3});
  Status status = runKernel("copy", {&input}, {&bf16});
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("does not convert"), std::string::npos);
  HostTensor wrongShape(DType::F32, {3, 4});
  EXPECT_FALSE(runKernel("copy", {&input}, {&wrongShape}).isOk());
}

} // namespace
} // namespace ds::rt::test
