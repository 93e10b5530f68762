// HF checkpoint import/export on a hand-built plan with one tensor of every mapping
// (direct, dense and shared gate_up, stacked routed experts, swapped eh_proj halves, the
// router bias buffer): values land where docs/ir-conventions.md says, BF16 and FP8 (with
// ragged 128x128 block scales) convert, errors name the HF key and the plan tensor, and
// export then import is exact, in one file and sharded.
#include "runtime/train/HfWeights.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/Safetensors.h"
#include "runtime/io/SafetensorsSet.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <unistd.h>

using namespace ds::rt;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kExperts = 3, kInter = 2, kWidth = 4;
constexpr const char *kBias = "model.layers.1.mlp.gate.e_score_correction_bias";

Plan testPlan() {
  Plan plan;
  auto add = [&](std::string name, BufferRole role, std::vector<int64_t> shape) {
    plan.buffers.push_back({std::move(name), role, DType::F32, std::move(shape), 0, ""});
  };
  add("tokens", BufferRole::Input, {1, 2});
  add("model.embed_tokens.weight", BufferRole::Param, {5, kWidth});
  add("model.layers.0.mlp.gate_up", BufferRole::Param, {2 * kInter, kWidth});
  add("model.layers.1.mlp.shared_experts.gate_up", BufferRole::Param, {2 * kInter, kWidth});
  add("model.layers.1.mlp.experts.gate_up", BufferRole::Param, {kExperts, 2 * kInter, kWidth});
  add("model.layers.1.mlp.experts.down", BufferRole::Param, {kExperts, kWidth, kInter});
  add("model.layers.2.eh_proj.weight", BufferRole::Param, {kWidth, 2 * kWidth});
  add(kBias, BufferRole::Buffer, {kExperts});
  EXPECT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  return plan;
}

Executor makeExecutor() {
  Expected<Executor> executor =
      Executor::create(testPlan(), [](const std::string &) { return KernelFn(); });
  EXPECT_TRUE(executor.isOk()) << executor.status().message();
  return executor.take();
}

float *data(Executor &executor, const std::string &name) {
  for (BufferRole role : {BufferRole::Param, BufferRole::Buffer}) {
    Expected<TensorView> view = executor.find(role, name);
    if (view)
      return view->as<float>();
  }
  ADD_FAILURE() << "no plan tensor " << name;
  return nullptr;
}

int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// HF tensors to write, each filled with `base + index` so every element is distinct.
struct HfFolder {
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> f32;
  std::vector<SafetensorsTensorRef> extra; // other dtypes, data owned by the test

  void add(const std::string &name, std::vector<int64_t> shape, float base) {
    std::vector<float> values(count(shape));
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = base + static_cast<float>(i);
    f32[name] = {std::move(shape), std::move(values)};
  }
  const std::vector<float> &values(const std::string &name) { return f32.at(name).second; }

  void write(const std::string &dir, const std::string &config = "{}") {
    fs::create_directories(dir);
    std::vector<SafetensorsTensorRef> refs = extra;
    for (auto &[name, tensor] : f32)
      refs.push_back({name, SafetensorsDType::F32, tensor.first, tensor.second.data(),
                      tensor.second.size() * sizeof(float)});
    ASSERT_TRUE(writeSafetensors(dir + "/model.safetensors", refs).isOk());
    ASSERT_TRUE(writeFileAtomically(dir + "/config.json", config).isOk());
  }
};

/// A checkpoint of every tensor testPlan() needs, in the per-expert layout.
HfFolder fullCheckpoint() {
  HfFolder hf;
  hf.add("model.embed_tokens.weight", {5, kWidth}, 0);
  hf.add("model.layers.0.mlp.gate_proj.weight", {kInter, kWidth}, 100);
  hf.add("model.layers.0.mlp.up_proj.weight", {kInter, kWidth}, 200);
  hf.add("model.layers.1.mlp.shared_experts.gate_proj.weight", {kInter, kWidth}, 300);
  hf.add("model.layers.1.mlp.shared_experts.up_proj.weight", {kInter, kWidth}, 400);
  for (int e = 0; e < kExperts; ++e) {
    std::string p = "model.layers.1.mlp.experts." + std::to_string(e) + ".";
    hf.add(p + "gate_proj.weight", {kInter, kWidth}, 1000 + 100 * e);
    hf.add(p + "up_proj.weight", {kInter, kWidth}, 2000 + 100 * e);
    hf.add(p + "down_proj.weight", {kWidth, kInter}, 3000 + 100 * e);
  }
  hf.add("model.layers.2.eh_proj.weight", {kWidth, 2 * kWidth}, 500);
  hf.add(kBias, {kExperts}, 600);
  return hf;
}

class HfWeightsTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "ds-hf-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root = pattern;
  }
  void TearDown() override { fs::remove_all(root); }
  std::string root;
};

TEST_F(HfWeightsTest, ImportPlacesEveryMapping) {
  HfFolder hf = fullCheckpoint();
  hf.add("model.layers.0.self_attn.rotary_emb.inv_freq", {2}, 0);
  hf.add("model.layers.2.embed_tokens.weight", {5, kWidth}, 0);
  hf.add("model.layers.2.shared_head.head.weight", {5, kWidth}, 0);
  hf.add("model.layers.3.enorm.weight", {kWidth}, 0);
  hf.write(root + "/hf");
  Executor executor = makeExecutor();
  Expected<HfImportSummary> summary = importHfWeights(executor, root + "/hf");
  ASSERT_TRUE(summary.isOk()) << summary.status().message();
  EXPECT_EQ(summary->tensorsRead, 1 + 2 + 2 + 3 * kExperts + 1 + 1);
  EXPECT_EQ(summary->skippedMtpTensors, 3); // layer 2's copies and the whole layer 3
  EXPECT_EQ(summary->unusedTensors,
            std::vector<std::string>{"model.layers.0.self_attn.rotary_emb.inv_freq"});
  EXPECT_TRUE(summary->zeroBuffers.empty());

  EXPECT_EQ(data(executor, "model.embed_tokens.weight")[7], 7.0f);
  float *dense = data(executor, "model.layers.0.mlp.gate_up");
  EXPECT_EQ(dense[0], 100.0f);                     // gate rows first
  EXPECT_EQ(dense[kInter * kWidth + 3], 203.0f);   // then up rows
  float *shared = data(executor, "model.layers.1.mlp.shared_experts.gate_up");
  EXPECT_EQ(shared[kInter * kWidth], 400.0f);
  float *gateUp = data(executor, "model.layers.1.mlp.experts.gate_up");
  int64_t expertStride = 2 * kInter * kWidth;
  EXPECT_EQ(gateUp[2 * expertStride + 1], 1201.0f);                  // expert 2 gate
  EXPECT_EQ(gateUp[1 * expertStride + kInter * kWidth + 5], 2105.0f); // expert 1 up
  float *down = data(executor, "model.layers.1.mlp.experts.down");
  EXPECT_EQ(down[1 * kWidth * kInter + 3], 3103.0f);
  // Our columns [hidden; embedding] come from HF's [embedding; hidden].
  float *eh = data(executor, "model.layers.2.eh_proj.weight");
  EXPECT_EQ(eh[1 * 2 * kWidth + 0], 500.0f + 1 * 2 * kWidth + kWidth);
  EXPECT_EQ(eh[1 * 2 * kWidth + kWidth], 500.0f + 1 * 2 * kWidth);
  EXPECT_EQ(data(executor, kBias)[2], 602.0f);
}

TEST_F(HfWeightsTest, FusedExpertsAndMissingBufferAreAccepted) {
  HfFolder hf = fullCheckpoint();
  for (int e = 0; e < kExperts; ++e)
    for (const char *proj : {"gate_proj", "up_proj", "down_proj"})
      hf.f32.erase("model.layers.1.mlp.experts." + std::to_string(e) + "." + proj + ".weight");
  hf.f32.erase(kBias);
  hf.add("model.layers.1.mlp.experts.gate_up_proj", {kExperts, 2 * kInter, kWidth}, 10);
  hf.add("model.layers.1.mlp.experts.down_proj", {kExperts, kWidth, kInter}, 20);
  hf.write(root + "/hf");
  Executor executor = makeExecutor();
  Expected<HfImportSummary> summary = importHfWeights(executor, root + "/hf");
  ASSERT_TRUE(summary.isOk()) << summary.status().message();
  EXPECT_EQ(summary->zeroBuffers, std::vector<std::string>{kBias});
  EXPECT_EQ(data(executor, "model.layers.1.mlp.experts.gate_up")[37], 47.0f);
  EXPECT_EQ(data(executor, "model.layers.1.mlp.experts.down")[17], 37.0f);
  EXPECT_EQ(data(executor, kBias)[1], 0.0f);
}

TEST_F(HfWeightsTest, MissingKeyAndShapeMismatchNameBothSides) {
  HfFolder hf = fullCheckpoint();
  hf.f32.erase("model.layers.1.mlp.experts.2.up_proj.weight");
  hf.write(root + "/missing");
  Executor executor = makeExecutor();
  Expected<HfImportSummary> missing = importHfWeights(executor, root + "/missing");
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find(
                "no 'model.layers.1.mlp.experts.2.up_proj.weight', which plan parameter "
                "'model.layers.1.mlp.experts.gate_up' [3, 4, 4] is read from"),
            std::string::npos)
      << missing.status().message();

  hf = fullCheckpoint();
  hf.add("model.layers.0.mlp.up_proj.weight", {kInter + 1, kWidth}, 0);
  hf.write(root + "/shape");
  Expected<HfImportSummary> shape = importHfWeights(executor, root + "/shape");
  ASSERT_FALSE(shape.isOk());
  EXPECT_NE(shape.status().message().find("'model.layers.0.mlp.up_proj.weight' has shape [3, 4] "
                                          "but plan parameter 'model.layers.0.mlp.gate_up' "
                                          "[4, 4] needs [2, 4]"),
            std::string::npos)
      << shape.status().message();

  Expected<HfImportSummary> none = importHfWeights(executor, root + "/absent");
  ASSERT_FALSE(none.isOk());
  EXPECT_NE(none.status().message().find("no model.safetensors"), std::string::npos);
}

TEST_F(HfWeightsTest, Bf16AndFp8WithRaggedBlockScales) {
  HfFolder hf = fullCheckpoint();
  // BF16 1.5 and -2.0 (the upper halves of their f32 encodings).
  std::vector<uint16_t> bf16(5 * kWidth, 0x3FC0);
  bf16[3] = 0xC000;
  hf.f32.erase("model.embed_tokens.weight");
  hf.extra.push_back({"model.embed_tokens.weight", SafetensorsDType::BF16, {5, kWidth},
                      bf16.data(), bf16.size() * 2});
  // FP8 E4M3 codes: 0x38 = 1.0, 0x40 = 2.0, 0xB8 = -1.0. Blocks of 3x3 (from config.json)
  // over a [4, 8] eh_proj leave a ragged last block row (1 row) and column (2 columns).
  std::vector<uint8_t> fp8(kWidth * 2 * kWidth, 0x38);
  fp8[0] = 0x40;                 // row 0, column 0: block (0, 0)
  fp8[3 * 8 + 7] = 0xB8;         // row 3, column 7: block (1, 2), the ragged corner
  std::vector<float> scales = {0.5f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}; // [2, 3]
  hf.f32.erase("model.layers.2.eh_proj.weight");
  hf.extra.push_back({"model.layers.2.eh_proj.weight", SafetensorsDType::F8E4M3, {kWidth, 8},
                      fp8.data(), fp8.size()});
  hf.extra.push_back({"model.layers.2.eh_proj.weight_scale_inv", SafetensorsDType::F32, {2, 3},
                      scales.data(), scales.size() * 4});
  hf.write(root + "/hf", R"({"quantization_config": {"weight_block_size": [3, 3]}})");
  Executor executor = makeExecutor();
  Expected<HfImportSummary> summary = importHfWeights(executor, root + "/hf");
  ASSERT_TRUE(summary.isOk()) << summary.status().message();
  EXPECT_TRUE(summary->unusedTensors.empty()); // the scale counts as read
  float *embed = data(executor, "model.embed_tokens.weight");
  EXPECT_EQ(embed[0], 1.5f);
  EXPECT_EQ(embed[3], -2.0f);
  // HF (row, col) lands at our (row, (col + 4) % 8).
  float *eh = data(executor, "model.layers.2.eh_proj.weight");
  auto at = [&](int row, int hfCol) { return eh[row * 8 + (hfCol + 4) % 8]; };
  EXPECT_EQ(at(0, 0), 2.0f * 0.5f);
  EXPECT_EQ(at(0, 4), 2.0f);   // block (0, 1)
  EXPECT_EQ(at(2, 6), 3.0f);   // block (0, 2), ragged column block
  EXPECT_EQ(at(3, 0), 4.0f);   // block (1, 0), ragged row block
  EXPECT_EQ(at(3, 7), -6.0f);  // block (1, 2)

  // A scale of the wrong block grid is refused with the expected shape.
  hf.extra.back().shape = {3, 2};
  hf.write(root + "/bad", R"({"quantization_config": {"weight_block_size": [3, 3]}})");
  Expected<HfImportSummary> bad = importHfWeights(executor, root + "/bad");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("'model.layers.2.eh_proj.weight_scale_inv' has shape "
                                        "[3, 2] but [4, 8] in 3x3 blocks needs [2, 3]"),
            std::string::npos)
      << bad.status().message();
}

TEST_F(HfWeightsTest, Fp8DefaultBlocksOf128) {
  // A [130, 2] matrix: rows 0-127 in block row 0, rows 128-129 in the ragged block row 1.
  std::vector<uint8_t> fp8(130 * 2, 0x38);
  std::vector<float> scales = {0.25f, 8.0f};
  Plan plan;
  plan.buffers.push_back({"w.weight", BufferRole::Param, DType::F32, {130, 2}, 0, ""});
  ASSERT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  Expected<Executor> executor =
      Executor::create(plan, [](const std::string &) { return KernelFn(); });
  ASSERT_TRUE(executor.isOk());
  fs::create_directories(root + "/hf");
  ASSERT_TRUE(writeSafetensors(root + "/hf/model.safetensors",
                               {{"w.weight", SafetensorsDType::F8E4M3, {130, 2}, fp8.data(), 260},
                                {"w.weight_scale_inv", SafetensorsDType::F32, {2, 1},
                                 scales.data(), 8}})
                  .isOk());
  ASSERT_TRUE(importHfWeights(*executor, root + "/hf").isOk());
  float *w = data(*executor, "w.weight");
  EXPECT_EQ(w[127 * 2 + 1], 0.25f);
  EXPECT_EQ(w[128 * 2], 8.0f);

  ASSERT_TRUE(writeSafetensors(root + "/hf/model.safetensors",
                               {{"w.weight", SafetensorsDType::F8E4M3, {130, 2}, fp8.data(), 260}})
                  .isOk());
  Expected<HfImportSummary> noScale = importHfWeights(*executor, root + "/hf");
  ASSERT_FALSE(noScale.isOk());
  EXPECT_NE(noScale.status().message().find("has no block scale 'w.weight_scale_inv'"),
            std::string::npos);
}

void expectSameTensors(Executor &a, Executor &b) {
  for (size_t id = 0; id < a.plan().buffers.size(); ++id) {
    const PlanBuffer &buffer = a.plan().buffers[id];
    if (buffer.role != BufferRole::Param && buffer.role != BufferRole::Buffer)
      continue;
    const TensorView &x = a.view(static_cast<int32_t>(id)), &y = b.view(static_cast<int32_t>(id));
    EXPECT_EQ(std::memcmp(x.data, y.data, x.sizeInBytes()), 0) << buffer.name;
  }
}

TEST_F(HfWeightsTest, ExportThenImportIsExact) {
  Executor source = makeExecutor();
  // Values with every mantissa bit in use, so a lossy path would show.
  uint32_t state = 12345;
  for (size_t id = 0; id < source.plan().buffers.size(); ++id) {
    const TensorView &view = source.view(static_cast<int32_t>(id));
    if (view.dtype != DType::F32)
      continue;
    for (int64_t i = 0; i < view.numElements(); ++i) {
      state = state * 1664525u + 1013904223u;
      view.as<float>()[i] = static_cast<float>(state) / 4294967296.0f - 0.5f;
    }
  }
  ASSERT_TRUE(writeFileAtomically(root + "/config.json", "{\"model_type\": \"x\"}").isOk());
  for (uint64_t shardBytes : {uint64_t(0), uint64_t(100)}) {
    std::string out = root + "/export-" + std::to_string(shardBytes);
    HfExportOptions options;
    options.maxShardBytes = shardBytes;
    options.configPath = root + "/config.json";
    ASSERT_TRUE(exportHfWeights(source, out, options).isOk());
    EXPECT_TRUE(fs::exists(out + "/config.json"));
    std::string index = out + "/model.safetensors.index.json";
    EXPECT_EQ(fs::exists(index), shardBytes != 0);
    Expected<SafetensorsSet> set =
        SafetensorsSet::open(shardBytes ? index : out + "/model.safetensors");
    ASSERT_TRUE(set.isOk()) << set.status().message();
    EXPECT_EQ(set->size(), static_cast<size_t>(1 + 2 + 2 + 3 * kExperts + 1 + 1));
    if (shardBytes)
      EXPECT_GT(set->shards().size(), 3u);
    EXPECT_NE(set->find("model.layers.1.mlp.experts.2.down_proj.weight"), nullptr);
    EXPECT_NE(set->find("model.layers.1.mlp.shared_experts.up_proj.weight"), nullptr);

    Executor copy = makeExecutor();
    Expected<HfImportSummary> summary = importHfWeights(copy, out);
    ASSERT_TRUE(summary.isOk()) << summary.status().message();
    EXPECT_TRUE(summary->unusedTensors.empty());
    expectSameTensors(source, copy);
  }
}

TEST_F(HfWeightsTest, GradientsSplitIntoHfNames) {
  std::vector<float> grad(kExperts * 2 * kInter * kWidth);
  for (size_t i = 0; i < grad.size(); ++i)
    grad[i] = static_cast<float>(i);
  std::vector<HfTensor> eh =
      toHfTensors("model.layers.2.eh_proj.weight", {kWidth, 2 * kWidth}, grad.data(), "grad.");
  ASSERT_EQ(eh.size(), 1u);
  EXPECT_EQ(eh[0].name, "grad.model.layers.2.eh_proj.weight");
  EXPECT_EQ(eh[0].data[0], 4.0f); // HF's first column is our embedding half
  std::vector<HfTensor> experts = toHfTensors("model.layers.1.mlp.experts.gate_up",
                                              {kExperts, 2 * kInter, kWidth}, grad.data(), "g.");
  ASSERT_EQ(experts.size(), static_cast<size_t>(2 * kExperts));
  EXPECT_EQ(experts[3].name, "g.model.layers.1.mlp.experts.1.up_proj.weight");
  EXPECT_EQ(experts[3].shape, (std::vector<int64_t>{kInter, kWidth}));
  EXPECT_EQ(experts[3].data[0], static_cast<float>(2 * kInter * kWidth + kInter * kWidth));
}

} // namespace
