// Spec parsing and validation: both formats normalize to one ModelSpec, the derived
// router and attention quantities follow the V2/V3 reference code, and every broken
// rule comes back as a message naming the key.
#include "frontend/SpecParser.h"

#include "llvm/Support/JSON.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace ds;

namespace {

/// A small V3 spec; tests edit one key at a time.
llvm::json::Object tinyV3() {
  return llvm::json::Object{
      {"model_type", "deepseek_v3"},
      {"vocab_size", 512},
      {"hidden_size", 64},
      {"intermediate_size", 128},
      {"moe_intermediate_size", 32},
      {"num_hidden_layers", 3},
      {"first_k_dense_replace", 1},
      {"num_attention_heads", 4},
      {"n_routed_experts", 8},
      {"n_shared_experts", 1},
      {"num_experts_per_tok", 2},
      {"n_group", 4},
      {"topk_group", 2},
      {"q_lora_rank", 32},
      {"kv_lora_rank", 32},
      {"qk_nope_head_dim", 16},
      {"qk_rope_head_dim", 8},
      {"v_head_dim", 16},
      {"num_nextn_predict_layers", 1},
  };
}

std::string text(const llvm::json::Object &object) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << llvm::json::Value(llvm::json::Object(object));
  return out;
}

llvm::Expected<ModelSpec> parse(const llvm::json::Object &object) {
  return parseModelSpec(text(object), "spec.json");
}

/// The message of a parse that must fail.
std::string failure(const llvm::json::Object &object) {
  llvm::Expected<ModelSpec> spec = parse(object);
  if (spec)
    return "(parsed)";
  return llvm::toString(spec.takeError());
}

TEST(SpecParser, V3DefaultsFollowHfConfigClass) {
  llvm::Expected<ModelSpec> spec = parse(tinyV3());
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  EXPECT_EQ(spec->modelType, "deepseek_v3");
  EXPECT_EQ(spec->scoringFunc, ScoreFunc::Sigmoid);
  EXPECT_EQ(spec->topkMethod, TopkMethod::NoauxTc);
  EXPECT_EQ(spec->groupScoreName(), "top2_sum");
  EXPECT_TRUE(spec->normTopkProb);
  EXPECT_DOUBLE_EQ(spec->routedScalingFactor, 2.5);
  EXPECT_DOUBLE_EQ(spec->effectiveRoutedScale(), 2.5);
  EXPECT_TRUE(spec->ropeInterleave);
  EXPECT_FALSE(spec->yarn.has_value());
  EXPECT_DOUBLE_EQ(spec->softmaxScale(), 1.0 / std::sqrt(24.0));
  EXPECT_DOUBLE_EQ(spec->balanceAlpha, 0.0);
  EXPECT_DOUBLE_EQ(spec->mtpLambda, 0.3);
  EXPECT_EQ(spec->numNextnPredictLayers, 1);
}

TEST(SpecParser, YarnScalesTheSoftmaxByMscaleSquared) {
  llvm::json::Object object = tinyV3();
  object["rope_scaling"] = llvm::json::Object{{"type", "yarn"},
                                              {"factor", 40},
                                              {"original_max_position_embeddings", 4096},
                                              {"mscale", 0.707},
                                              {"mscale_all_dim", 0.707}};
  llvm::Expected<ModelSpec> spec = parse(object);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  double mscale = 0.1 * 0.707 * std::log(40.0) + 1.0;
  EXPECT_NEAR(spec->softmaxScale(), mscale * mscale / std::sqrt(24.0), 1e-15);
  // mscale / mscale_all_dim = 1: RoPE's cos/sin are not rescaled.
  EXPECT_DOUBLE_EQ(spec->ropeAttentionFactor(), 1.0);
  ASSERT_TRUE(spec->yarn.has_value());
  EXPECT_EQ(spec->yarn->originalMaxPosition, 4096);
}

TEST(SpecParser, RopeParametersWinOverRopeScaling) {
  llvm::json::Object object = tinyV3();
  object["rope_theta"] = 10000.0;
  object["rope_scaling"] = nullptr;
  object["rope_parameters"] = llvm::json::Object{{"rope_type", "yarn"},
                                                 {"rope_theta", 50000.0},
                                                 {"factor", 4.0},
                                                 {"original_max_position_embeddings", 128}};
  llvm::Expected<ModelSpec> spec = parse(object);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  EXPECT_DOUBLE_EQ(spec->ropeTheta, 50000.0);
  ASSERT_TRUE(spec->yarn.has_value());
  EXPECT_DOUBLE_EQ(spec->yarn->factor, 4.0);
  // mscale_all_dim absent means 0: the softmax scale stays (nope + rope)^-1/2.
  EXPECT_DOUBLE_EQ(spec->softmaxScale(), 1.0 / std::sqrt(24.0));
}

TEST(SpecParser, V2GreedyHasOneGroupAndNoQueryCompression) {
  llvm::json::Object object = tinyV3();
  object["model_type"] = "deepseek_v2";
  object["q_lora_rank"] = nullptr;
  object["n_group"] = nullptr;
  object["topk_group"] = nullptr;
  llvm::Expected<ModelSpec> spec = parse(object);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  EXPECT_EQ(spec->scoringFunc, ScoreFunc::Softmax);
  EXPECT_EQ(spec->topkMethod, TopkMethod::Greedy);
  EXPECT_EQ(spec->nGroup, 1);
  EXPECT_EQ(spec->topkGroup, 1);
  EXPECT_EQ(spec->qLoraRank, 0);
  EXPECT_EQ(spec->groupScoreName(), "max");
  EXPECT_FALSE(spec->normTopkProb);
  EXPECT_DOUBLE_EQ(spec->routedScalingFactor, 1.0);
}

TEST(SpecParser, V2ScalesRoutedWeightsOnlyWithoutNormalization) {
  // DeepSeek-V2's MoEGate multiplies by routed_scaling_factor in the branch that does
  // not normalize; V3's always multiplies.
  llvm::json::Object object = tinyV3();
  object["model_type"] = "deepseek_v2";
  object["topk_method"] = "group_limited_greedy";
  object["routed_scaling_factor"] = 16.0;
  object["norm_topk_prob"] = false;
  llvm::Expected<ModelSpec> unnormalized = parse(object);
  ASSERT_TRUE(bool(unnormalized)) << llvm::toString(unnormalized.takeError());
  EXPECT_DOUBLE_EQ(unnormalized->effectiveRoutedScale(), 16.0);
  object["norm_topk_prob"] = true;
  llvm::Expected<ModelSpec> normalized = parse(object);
  ASSERT_TRUE(bool(normalized)) << llvm::toString(normalized.takeError());
  EXPECT_DOUBLE_EQ(normalized->effectiveRoutedScale(), 1.0);
  // With one expert per token neither gate normalizes.
  object["num_experts_per_tok"] = 1;
  llvm::Expected<ModelSpec> single = parse(object);
  ASSERT_TRUE(bool(single)) << llvm::toString(single.takeError());
  EXPECT_FALSE(single->effectiveNormTopkProb());
  EXPECT_DOUBLE_EQ(single->effectiveRoutedScale(), 16.0);
}

TEST(SpecParser, IntegralFloatsAreIntegers) {
  llvm::json::Object object = tinyV3();
  object["hidden_size"] = 64.0;
  llvm::Expected<ModelSpec> spec = parse(object);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  EXPECT_EQ(spec->hiddenSize, 64);
  object["hidden_size"] = 64.5;
  EXPECT_EQ(failure(object), "spec.json: `hidden_size` must be an integer, got number 64.5");
}

TEST(SpecParser, BalanceLossFromAuxLossAlpha) {
  llvm::json::Object object = tinyV3();
  object["aux_loss_alpha"] = 0.0001;
  object["mtp_loss_weight"] = 0.1;
  llvm::Expected<ModelSpec> spec = parse(object);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  EXPECT_DOUBLE_EQ(spec->balanceAlpha, 0.0001);
  EXPECT_DOUBLE_EQ(spec->mtpLambda, 0.1);
  object["seq_aux"] = false;
  EXPECT_NE(failure(object).find("with `seq_aux` false asks for a batch-wise balance loss"),
            std::string::npos);
}

TEST(SpecParser, DeepSeekInferenceFormat) {
  llvm::json::Object object{
      {"vocab_size", 512},      {"dim", 64},
      {"inter_dim", 128},       {"moe_inter_dim", 32},
      {"n_layers", 3},          {"n_dense_layers", 1},
      {"n_heads", 4},           {"n_routed_experts", 8},
      {"n_shared_experts", 1},  {"n_activated_experts", 2},
      {"n_expert_groups", 4},   {"n_limited_groups", 2},
      {"route_scale", 2.5},     {"score_func", "sigmoid"},
      {"q_lora_rank", 0},       {"kv_lora_rank", 32},
      {"qk_nope_head_dim", 16}, {"qk_rope_head_dim", 8},
      {"v_head_dim", 16},       {"max_seq_len", 4096},
  };
  llvm::Expected<ModelSpec> spec = parse(object);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  EXPECT_EQ(spec->modelType, "deepseek_v3");
  EXPECT_EQ(spec->topkMethod, TopkMethod::NoauxTc);
  EXPECT_TRUE(spec->normTopkProb);
  EXPECT_EQ(spec->nGroup, 4);
  EXPECT_EQ(spec->qLoraRank, 0);
  EXPECT_EQ(spec->numNextnPredictLayers, 0);
  EXPECT_DOUBLE_EQ(spec->initializerRange, 0.006);
  // model.py applies YaRN only beyond original_seq_len (4096 by default).
  EXPECT_FALSE(spec->yarn.has_value());
  object["max_seq_len"] = 16384;
  object["mscale"] = 0.707;
  llvm::Expected<ModelSpec> long_ = parse(object);
  ASSERT_TRUE(bool(long_)) << llvm::toString(long_.takeError());
  ASSERT_TRUE(long_->yarn.has_value());
  EXPECT_DOUBLE_EQ(long_->yarn->factor, 40.0);
  double mscale = 0.1 * 0.707 * std::log(40.0) + 1.0;
  EXPECT_NEAR(long_->softmaxScale(), mscale * mscale / std::sqrt(24.0), 1e-15);
  // Softmax scoring is V2's gate.
  object["score_func"] = "softmax";
  llvm::Expected<ModelSpec> v2 = parse(object);
  ASSERT_TRUE(bool(v2)) << llvm::toString(v2.takeError());
  EXPECT_EQ(v2->modelType, "deepseek_v2");
  EXPECT_EQ(v2->topkMethod, TopkMethod::GroupLimitedGreedy);
  // Messages quote DeepSeek's key names.
  object["n_limited_groups"] = 5;
  EXPECT_EQ(failure(object), "spec.json: `n_limited_groups` (5) must be at most "
                             "`n_expert_groups` (4)");
}

TEST(SpecParser, NormalizedJsonParsesBackToTheSameSpec) {
  llvm::json::Object object = tinyV3();
  object["rope_scaling"] = llvm::json::Object{{"type", "yarn"},
                                              {"factor", 40},
                                              {"original_max_position_embeddings", 4096},
                                              {"mscale", 1.0},
                                              {"mscale_all_dim", 1.0}};
  object["aux_loss_alpha"] = 0.0001;
  llvm::Expected<ModelSpec> spec = parse(object);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  std::string normalized = modelSpecToJson(*spec);
  llvm::Expected<ModelSpec> again = parseModelSpec(normalized, "ds.spec");
  ASSERT_TRUE(bool(again)) << llvm::toString(again.takeError());
  EXPECT_EQ(modelSpecToJson(*again), normalized);
  EXPECT_DOUBLE_EQ(again->softmaxScale(), spec->softmaxScale());
}

TEST(SpecParser, EveryStructuralKeyIsRequired) {
  for (const char *key :
       {"vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
        "num_hidden_layers", "first_k_dense_replace", "num_attention_heads", "n_routed_experts",
        "n_shared_experts", "num_experts_per_tok", "n_group", "topk_group", "q_lora_rank",
        "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"}) {
    llvm::json::Object object = tinyV3();
    object.erase(key);
    EXPECT_EQ(failure(object), std::string("spec.json: missing required key `") + key + "`");
  }
}

TEST(SpecParser, RulesNameKeyValueAndRule) {
  struct Case {
    const char *key;
    llvm::json::Value value;
    const char *message;
  };
  Case cases[] = {
      {"n_group", 3, "`n_routed_experts` (8) must be divisible by `n_group` (3)"},
      {"topk_group", 5, "`topk_group` (5) must be at most `n_group` (4)"},
      {"num_experts_per_tok", 9,
       "`num_experts_per_tok` (9) must be at most `n_routed_experts` (8)"},
      {"first_k_dense_replace", 4,
       "`first_k_dense_replace` (4) must be at most `num_hidden_layers` (3)"},
      {"vocab_size", 0, "`vocab_size` (0) must be positive"},
      {"hidden_size", 4294967296, "`hidden_size` (4294967296) must be at most 2147483647"},
      {"rms_norm_eps", 0.0, "`rms_norm_eps` (0) must be a positive finite number"},
      {"q_lora_rank", -1, "`q_lora_rank` (-1) must not be negative"},
      {"num_nextn_predict_layers", -1, "`num_nextn_predict_layers` (-1) must not be negative"},
      {"model_type", "deepseek_v4",
       "`model_type` \"deepseek_v4\" is not supported (expected \"deepseek_v3\" or "
       "\"deepseek_v2\")"},
      {"topk_method", "random",
       "`topk_method` \"random\" is not supported (expected \"noaux_tc\", "
       "\"group_limited_greedy\" or \"greedy\")"},
      {"moe_layer_freq", 2,
       "`moe_layer_freq` (2) is not supported: every layer from `first_k_dense_replace` on is "
       "MoE"},
      {"rope_scaling", "yarn", "`rope_scaling` must be an object or null, got string \"yarn\""},
  };
  for (Case &c : cases) {
    llvm::json::Object object = tinyV3();
    object[c.key] = std::move(c.value);
    EXPECT_EQ(failure(object), std::string("spec.json: ") + c.message) << "key " << c.key;
  }
}

TEST(SpecParser, UnreadableJsonGivesLineAndColumn) {
  llvm::Expected<ModelSpec> spec = parseModelSpec("{\n  \"a\": 1,\n  \"b\" 2\n}", "bad.json");
  ASSERT_FALSE(bool(spec));
  EXPECT_EQ(llvm::toString(spec.takeError()),
            "bad.json:3:7: Expected : after object key (the spec is not valid JSON)");
}

} // namespace
