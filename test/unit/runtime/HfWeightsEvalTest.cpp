// The pieces of `ds-train --eval` that do not need the compiler: the token window that
// makes ds's loss HF's shifted loss, and the config rewrite that drops MTP layers (HF's
// model has none) while keeping every other byte. The whole path runs in e2e-parity-hf.
#include "runtime/train/Eval.h"

#include <gtest/gtest.h>

using namespace ds::rt;

namespace {

TEST(HfWeightsEvalTest, TokensAreIdsThenNoLabel) {
  std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(evalTokens(ids, 2, 3, 0), (std::vector<int32_t>{1, 2, 3, -100, 4, 5, 6, -100}));
  EXPECT_EQ(evalTokens(ids, 3, 2, 1),
            (std::vector<int32_t>{1, 2, -100, -100, 3, 4, -100, -100, 5, 6, -100, -100}));
}

TEST(HfWeightsEvalTest, MtpLayersAreDroppedFromTheConfig) {
  std::string v3 = "{\"hidden_size\": 64,\n \"num_nextn_predict_layers\": 12, \"x\": [1]}";
  Expected<std::string> rewritten = withoutMtpLayers(v3);
  ASSERT_TRUE(rewritten.isOk()) << rewritten.status().message();
  EXPECT_EQ(*rewritten, "{\"hidden_size\": 64,\n \"num_nextn_predict_layers\": 0, \"x\": [1]}");

  for (std::string same : {"{\"num_nextn_predict_layers\": 0}", "{\"hidden_size\": 64}"}) {
    Expected<std::string> unchanged = withoutMtpLayers(same);
    ASSERT_TRUE(unchanged.isOk());
    EXPECT_EQ(*unchanged, same);
  }
  Expected<std::string> bad = withoutMtpLayers("{\"num_nextn_predict_layers\": 1.5}");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("non-negative integer"), std::string::npos);
  EXPECT_FALSE(withoutMtpLayers("[1]").isOk());
  EXPECT_FALSE(withoutMtpLayers("{").isOk());
}

} // namespace
