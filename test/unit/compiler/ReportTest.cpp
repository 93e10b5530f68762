// The ds-report analysis over graphs built from the published DeepSeek configs: the
// IR-based counts equal closed-form counts from the spec, and meet the published totals
// (V3 report Table 1 / §1; V2 report §1).
#include "passes/analysis/Report.h"
#include "dialects/ds/DsDialect.h"
#include "frontend/SpecParser.h"
#include "models/ModelImport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/ADT/StringSet.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace ds;

namespace {

// The architecture keys of the published HF configs (models/configs/ holds the full
// files; the lit tests report on those).
const char *kV3 = R"({"model_type": "deepseek_v3", "vocab_size": 129280, "hidden_size": 7168,
  "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
  "first_k_dense_replace": 3, "num_attention_heads": 128, "n_routed_experts": 256,
  "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4,
  "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "v_head_dim": 128, "num_nextn_predict_layers": 1})";
const char *kV2 = R"({"model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 5120,
  "intermediate_size": 12288, "moe_intermediate_size": 1536, "num_hidden_layers": 60,
  "first_k_dense_replace": 1, "num_attention_heads": 128, "n_routed_experts": 160,
  "n_shared_experts": 2, "num_experts_per_tok": 6, "n_group": 8, "topk_group": 3,
  "topk_method": "group_limited_greedy", "routed_scaling_factor": 16.0,
  "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "v_head_dim": 128})";
const char *kV2Lite = R"({"model_type": "deepseek_v2", "vocab_size": 102400,
  "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
  "num_hidden_layers": 27, "first_k_dense_replace": 1, "num_attention_heads": 16,
  "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "n_group": 1,
  "topk_group": 1, "topk_method": "greedy", "q_lora_rank": null, "kv_lora_rank": 512,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128})";
const char *kV3Mini = R"({"model_type": "deepseek_v3", "vocab_size": 32768, "hidden_size": 1024,
  "intermediate_size": 2816, "moe_intermediate_size": 512, "num_hidden_layers": 12,
  "first_k_dense_replace": 1, "num_attention_heads": 8, "n_routed_experts": 64,
  "n_shared_experts": 2, "num_experts_per_tok": 6, "n_group": 8, "topk_group": 4,
  "q_lora_rank": 512, "kv_lora_rank": 256, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "v_head_dim": 128, "num_nextn_predict_layers": 1})";

/// Closed-form counts of one decoder layer, written from the V2/V3 architecture
/// independently of the builder and the analysis.
struct LayerCounts {
  int64_t total = 0, activated = 0, matmul = 0;
};

LayerCounts attentionCounts(const ModelSpec &s) {
  int64_t d = s.hiddenSize, h = s.numAttentionHeads;
  int64_t query = s.qLoraRank > 0 ? s.qLoraRank * d + s.qLoraRank + h * s.qkHeadDim() * s.qLoraRank
                                  : h * s.qkHeadDim() * d;
  int64_t matmul = query - (s.qLoraRank > 0 ? s.qLoraRank : 0) +
                   (s.kvLoraRank + s.qkRopeHeadDim) * d +
                   h * (s.qkNopeHeadDim + s.vHeadDim) * s.kvLoraRank + d * h * s.vHeadDim;
  int64_t total = matmul + (s.qLoraRank > 0 ? s.qLoraRank : 0) + s.kvLoraRank + 2 * d;
  return {total, total, matmul};
}

LayerCounts layerCounts(const ModelSpec &s, int64_t layer) {
  LayerCounts c = attentionCounts(s);
  int64_t d = s.hiddenSize;
  if (!s.isMoeLayer(layer)) {
    int64_t ffn = 3 * d * s.intermediateSize;
    return {c.total + ffn, c.activated + ffn, c.matmul + ffn};
  }
  int64_t expert = 3 * d * s.moeIntermediateSize;
  int64_t always = s.nRoutedExperts * d + s.nSharedExperts * expert;
  return {c.total + always + s.nRoutedExperts * expert,
          c.activated + always + s.numExpertsPerTok * expert,
          c.matmul + always + s.numExpertsPerTok * expert};
}

ModelReport reportOf(const char *json, int64_t seq = 128) {
  llvm::Expected<ModelSpec> spec = parseModelSpec(json, "spec");
  EXPECT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  mlir::MLIRContext context;
  BuildOptions options;
  options.seq = seq;
  auto module = buildModel(context, *spec, options);
  EXPECT_TRUE(bool(module)) << llvm::toString(module.takeError());
  llvm::Expected<ModelReport> report = analyzeModel(**module);
  EXPECT_TRUE(bool(report)) << llvm::toString(report.takeError());
  return *report;
}

void expectClosedForm(const char *json, int64_t seq) {
  ModelSpec s = *parseModelSpec(json, "spec");
  ModelReport r = reportOf(json, seq);
  int64_t embed = s.vocabSize * s.hiddenSize;
  int64_t total = 2 * embed + s.hiddenSize, activated = embed + s.hiddenSize, flops = 2 * embed;
  for (int64_t layer = 0; layer < s.numHiddenLayers; ++layer) {
    LayerCounts c = layerCounts(s, layer);
    total += c.total;
    activated += c.activated;
    // Causal attention: h * (qk + v) * (S + 1) FLOPs per token and layer.
    flops += 2 * c.matmul + s.numAttentionHeads * (s.qkHeadDim() + s.vHeadDim) * (seq + 1);
  }
  int64_t mtp = 0;
  for (int64_t k = 1; k <= s.numNextnPredictLayers; ++k)
    mtp += layerCounts(s, s.numHiddenLayers + k - 1).total + 2 * s.hiddenSize * s.hiddenSize +
           3 * s.hiddenSize;
  EXPECT_EQ(r.paramsTotal, total);
  EXPECT_EQ(r.paramsActivated, activated);
  EXPECT_EQ(r.paramsEmbedding, embed);
  EXPECT_EQ(r.paramsMtp, mtp);
  EXPECT_EQ(r.flopsPerTokenForward, flops);
  EXPECT_EQ(r.flopsPerTokenTraining, 3 * (r.flopsPerTokenForward + r.flopsPerTokenMtpForward));
  EXPECT_EQ(r.kvCacheBytesPerToken, s.numHiddenLayers * (s.kvLoraRank + s.qkRopeHeadDim) * 2);
  EXPECT_EQ(r.kvCacheBytesPerTokenMha,
            s.numHiddenLayers * s.numAttentionHeads * (s.qkHeadDim() + s.vHeadDim) * 2);
  // One row per layer (and MTP module), plus the embedding and the head.
  EXPECT_EQ(r.layers.size(), size_t(s.numHiddenLayers + s.numNextnPredictLayers + 2));
}

double relativeError(int64_t value, double target) { return std::abs(value - target) / target; }

TEST(Report, MatchesClosedFormCounts) {
  expectClosedForm(kV3Mini, 128);
  expectClosedForm(kV3Mini, 4096);
  expectClosedForm(kV2Lite, 512);
  expectClosedForm(kV2, 128);
  expectClosedForm(kV3, 128);
}

TEST(Report, MeetsPublishedTotals) {
  ModelReport v3 = reportOf(kV3);
  EXPECT_LT(relativeError(v3.paramsTotal, 671.03e9), 0.005);
  EXPECT_LT(relativeError(v3.paramsActivated, 37e9), 0.02);
  EXPECT_LT(relativeError(v3.paramsMtp, 11.6e9), 0.01);
  ModelReport v2 = reportOf(kV2);
  EXPECT_LT(relativeError(v2.paramsTotal, 236e9), 0.01);
  EXPECT_LT(relativeError(v2.paramsActivated, 21e9), 0.01);
  ModelReport lite = reportOf(kV2Lite);
  EXPECT_LT(relativeError(lite.paramsTotal, 15.7e9), 0.01);
  EXPECT_LT(relativeError(lite.paramsActivated, 2.4e9), 0.03);
  EXPECT_EQ(reportOf(kV3Mini).paramsTotal, 1256949760);
  // MLA caches 576 values per layer against 128 heads x 320 for MHA.
  EXPECT_EQ(v3.kvCacheBytesPerToken, 61 * 576 * 2);
}

TEST(Report, EveryArgumentIsNamedOnce) {
  llvm::Expected<ModelSpec> spec = parseModelSpec(kV3Mini, "spec");
  ASSERT_TRUE(bool(spec));
  mlir::MLIRContext context;
  auto module = buildModel(context, *spec, BuildOptions());
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  auto forward = (*module)->lookupSymbol<mlir::func::FuncOp>("forward");
  ASSERT_TRUE(forward);
  llvm::StringSet<> names;
  for (unsigned i = 0; i < forward.getNumArguments(); ++i) {
    mlir::DictionaryAttr attrs = forward.getArgAttrDict(i);
    ASSERT_TRUE(attrs) << "argument " << i << " has no attributes";
    auto param = attrs.getAs<mlir::StringAttr>("ds.param");
    auto buffer = attrs.getAs<mlir::StringAttr>("ds.buffer");
    auto input = attrs.getAs<mlir::StringAttr>("ds.input");
    ASSERT_EQ(int(bool(param)) + int(bool(buffer)) + int(bool(input)), 1) << "argument " << i;
    mlir::StringAttr name = param ? param : buffer ? buffer : input;
    EXPECT_TRUE(names.insert(name.getValue()).second) << name.str();
    if (param || buffer)
      EXPECT_TRUE(attrs.get("ds.init")) << name.str();
  }
  // No two arguments share a name: each binds one runtime tensor.
  EXPECT_EQ(names.size(), forward.getNumArguments());
  EXPECT_TRUE(names.contains("model.layers.12.eh_proj.weight"));
  EXPECT_TRUE(names.contains("model.layers.11.mlp.gate.e_score_correction_bias"));
}

TEST(Report, ModuleWithoutForwardIsAnError) {
  mlir::MLIRContext context;
  context.loadDialect<mlir::func::FuncDialect, DsDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  llvm::Expected<ModelReport> report = analyzeModel(*module);
  ASSERT_FALSE(bool(report));
  EXPECT_EQ(llvm::toString(report.takeError()),
            "the module has no func.func @forward with a body to report on");
}

} // namespace
