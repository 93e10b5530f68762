// Sharded checkpoints: a model.safetensors.index.json and its shards read as one set.
#include "runtime/io/AtomicFile.h"
#include "runtime/io/SafetensorsSet.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace ds::rt;
namespace fs = std::filesystem;

namespace {

class ShardedCheckpoint : public testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (fs::path(testing::TempDir()) / "ds-sharded-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string file(const std::string &name) const { return dir_ + "/" + name; }

  /// Writes a shard holding one f32 tensor per name, each [2] = {i, i + 0.5}.
  void writeShard(const std::string &name, const std::vector<std::string> &tensors) {
    std::vector<std::vector<float>> values;
    std::vector<SafetensorsTensorRef> refs;
    values.reserve(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      values.push_back({float(i), float(i) + 0.5f});
      refs.push_back({tensors[i], SafetensorsDType::F32, {2}, values.back().data(), 8});
    }
    ASSERT_TRUE(writeSafetensors(file(name), refs).isOk());
  }
  void writeIndex(const std::string &json) {
    ASSERT_TRUE(writeFileAtomically(file("model.safetensors.index.json"), json).isOk());
  }
  std::string openError() {
    Expected<SafetensorsSet> set = SafetensorsSet::open(file("model.safetensors.index.json"));
    EXPECT_FALSE(set.isOk());
    return set.isOk() ? std::string() : set.status().message();
  }

  std::string dir_;
};

TEST_F(ShardedCheckpoint, PresentsTheUnionOfShards) {
  writeShard("model-00001-of-00002.safetensors", {"embed", "layer.0"});
  writeShard("model-00002-of-00002.safetensors", {"layer.1"});
  writeIndex(R"({"metadata": {"total_size": 24}, "weight_map": {
      "embed": "model-00001-of-00002.safetensors",
      "layer.0": "model-00001-of-00002.safetensors",
      "layer.1": "model-00002-of-00002.safetensors"}})");
  Expected<SafetensorsSet> set = SafetensorsSet::open(file("model.safetensors.index.json"));
  ASSERT_TRUE(set.isOk()) << set.status().message();
  EXPECT_EQ(set->shards().size(), 2u);
  ASSERT_EQ(set->size(), 3u);
  std::vector<std::string> names;
  for (const SafetensorsTensorInfo *info : set->tensors())
    names.push_back(info->name);
  EXPECT_EQ(names, (std::vector<std::string>{"embed", "layer.0", "layer.1"}));
  EXPECT_EQ(set->shardOf("layer.1"), &set->shards()[1]);
  Expected<std::vector<float>> layer0 = set->readF32("layer.0");
  ASSERT_TRUE(layer0.isOk());
  EXPECT_EQ(*layer0, (std::vector<float>{1.0f, 1.5f}));
  Expected<ByteSpan> layer1 = set->bytes("layer.1");
  ASSERT_TRUE(layer1.isOk());
  EXPECT_EQ(layer1->size, 8u);
  EXPECT_NE(set->readF32("absent").status().message().find("no tensor named \"absent\""),
            std::string::npos);
}

TEST_F(ShardedCheckpoint, OpensASingleFileAsASet) {
  writeShard("model.safetensors", {"a", "b"});
  Expected<SafetensorsSet> set = SafetensorsSet::open(file("model.safetensors"));
  ASSERT_TRUE(set.isOk()) << set.status().message();
  EXPECT_EQ(set->size(), 2u);
  float out[2];
  ASSERT_TRUE(set->readF32("b", out, 2).isOk());
  EXPECT_EQ(out[1], 1.5f);
}

TEST_F(ShardedCheckpoint, MissingShardIsNamed) {
  writeShard("a.safetensors", {"x"});
  writeIndex(R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
  std::string message = openError();
  EXPECT_NE(message.find("shard \"b.safetensors\" (listed for tensor \"y\"): cannot open"),
            std::string::npos)
      << message;
}

TEST_F(ShardedCheckpoint, TensorInTwoShardsIsAnError) {
  writeShard("a.safetensors", {"x", "shared"});
  writeShard("b.safetensors", {"y", "shared"});
  writeIndex(R"({"weight_map": {"x": "a.safetensors", "shared": "a.safetensors",
                                "y": "b.safetensors"}})");
  std::string message = openError();
  EXPECT_NE(message.find("tensor \"shared\" is in shard \"b.safetensors\" and in shard "
                         "\"a.safetensors\""),
            std::string::npos)
      << message;
}

TEST_F(ShardedCheckpoint, IndexAndShardsMustAgree) {
  writeShard("a.safetensors", {"x", "extra"});
  writeIndex(R"({"weight_map": {"x": "a.safetensors"}})");
  EXPECT_NE(openError().find("shard \"a.safetensors\" holds tensor \"extra\", which the index "
                             "does not list"),
            std::string::npos);

  writeIndex(R"({"weight_map": {"x": "a.safetensors", "extra": "a.safetensors",
                                "ghost": "a.safetensors"}})");
  EXPECT_NE(openError().find("tensor \"ghost\" is mapped to shard \"a.safetensors\", which "
                             "does not contain it"),
            std::string::npos);
}

TEST_F(ShardedCheckpoint, BadShardIsNamedWithItsProblem) {
  ASSERT_TRUE(
      writeFileAtomically(file("a.safetensors"), std::string("\x03\0\0\0\0\0\0\0{}", 10)).isOk());
  writeIndex(R"({"weight_map": {"x": "a.safetensors"}})");
  std::string message = openError();
  EXPECT_NE(message.find("shard \"a.safetensors\" (listed for tensor \"x\"): '"), std::string::npos)
      << message;
  EXPECT_NE(message.find("a.safetensors': header length 3 runs past the end"), std::string::npos)
      << message;
}

TEST(SafetensorsIndex, RejectsMalformedIndexes) {
  auto errorOf = [](std::string_view json) {
    auto parsed = parseSafetensorsIndex(json);
    EXPECT_FALSE(parsed.isOk()) << json;
    return parsed.isOk() ? std::string() : parsed.status().message();
  };
  EXPECT_NE(errorOf("{").find("invalid JSON at byte 1"), std::string::npos);
  EXPECT_NE(errorOf("[]").find("index is a JSON array, expected an object"), std::string::npos);
  EXPECT_NE(errorOf("{}").find("no \"weight_map\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"weight_map": []})").find("weight_map is a JSON array"), std::string::npos);
  EXPECT_NE(errorOf(R"({"weight_map": {"x": 3}})").find("tensor \"x\" maps to a JSON number"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"weight_map": {"x": "../secret.safetensors"}})")
                .find("expected a file name in the index's folder"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"weight_map": {"x": "a", "x": "b"}})").find("duplicate key \"x\""),
            std::string::npos);
  auto parsed = parseSafetensorsIndex(R"({"weight_map": {"b": "s1", "a": "s2"}})");
  ASSERT_TRUE(parsed.isOk());
  EXPECT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0], (std::pair<std::string, std::string>{"b", "s1"}));
}

} // namespace
