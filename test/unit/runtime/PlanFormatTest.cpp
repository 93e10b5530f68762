// Round trip and hostile-input tests of the .dsplan writer and reader.
#include "runtime/plan/PlanFormat.h"
#include "runtime/plan/PlanReader.h"
#include "runtime/plan/PlanWriter.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace ds::rt;

namespace {

AttrValue ints(std::vector<int64_t> v) {
  AttrValue a;
  a.kind = AttrValue::Kind::Ints;
  a.ints = std::move(v);
  return a;
}

int32_t add(Plan &plan, std::string name, BufferRole role, DType dtype, std::vector<int64_t> shape,
            std::string init = "") {
  PlanBuffer buffer;
  buffer.name = std::move(name);
  buffer.role = role;
  buffer.dtype = dtype;
  buffer.shape = std::move(shape);
  buffer.init = std::move(init);
  plan.buffers.push_back(buffer);
  return static_cast<int32_t>(plan.buffers.size() - 1);
}

// A small but complete plan: every role, every attribute kind, a view, an update.
Plan samplePlan() {
  Plan plan;
  plan.specJson = R"({"model_type":"deepseek_v3","hidden_size":8})";
  plan.modelType = "deepseek_v3";
  plan.batch = 2;
  plan.seq = 3;
  plan.vocabSize = 11;
  plan.mtpDepth = 1;
  plan.initializerRange = 0.02;
  int32_t tokens = add(plan, "tokens", BufferRole::Input, DType::I32, {2, 5});
  int32_t weight = add(plan, "model.norm.weight", BufferRole::Param, DType::F32, {8}, "ones");
  int32_t bias = add(plan, "model.layers.0.mlp.gate.e_score_correction_bias", BufferRole::Buffer,
                     DType::F32, {4});
  int32_t moment = add(plan, "exp_avg.model.norm.weight", BufferRole::State, DType::F32, {8});
  int32_t hidden = add(plan, "hidden", BufferRole::Temporary, DType::BF16, {2, 3, 8});
  int32_t newWeight = add(plan, "", BufferRole::Temporary, DType::F32, {8});
  int32_t loss = add(plan, "loss", BufferRole::Output, DType::F32, {});
  int32_t flatHidden = add(plan, "", BufferRole::Temporary, DType::BF16, {6, 8});
  plan.buffers[flatHidden].viewOf = hidden;
  PlanLaunch first;
  first.kernel = "embedding";
  first.inputs = {tokens, weight};
  first.outputs = {hidden};
  first.attrs.all()["dims"] = ints({1, -2, 3});
  first.attrs.all()["eps"].kind = AttrValue::Kind::Float;
  first.attrs.all()["eps"].real = 1e-6;
  first.attrs.all()["score_func"].kind = AttrValue::Kind::String;
  first.attrs.all()["score_func"].text = "sigmoid";
  PlanLaunch second;
  second.kernel = "rms_norm";
  second.inputs = {hidden, bias, moment, flatHidden};
  second.outputs = {newWeight, loss};
  plan.launches = {first, second};
  plan.updates = {{newWeight, weight}};
  EXPECT_TRUE(layoutPlanWithoutReuse(plan).isOk());
  return plan;
}

std::vector<uint8_t> bytesOf(const Plan &plan) {
  Expected<std::vector<uint8_t>> bytes = serializePlan(plan);
  EXPECT_TRUE(bytes.isOk()) << bytes.status().message();
  return bytes.isOk() ? *bytes : std::vector<uint8_t>{};
}

// Rewrites the header's payload size and checksum so that a damaged payload reaches the
// section decoders instead of being stopped by the checksum.
void resealHeader(std::vector<uint8_t> &bytes) {
  uint64_t payload = bytes.size() - plan_format::kHeaderBytes;
  for (int i = 0; i < 8; ++i)
    bytes[16 + i] = static_cast<uint8_t>(payload >> (8 * i));
  uint32_t crc = plan_format::crc32(bytes.data() + plan_format::kHeaderBytes, payload);
  for (int i = 0; i < 4; ++i)
    bytes[24 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

Status parse(const std::vector<uint8_t> &bytes) {
  Expected<Plan> plan = parsePlan(bytes.data(), bytes.size());
  return plan.isOk() ? Status::ok() : plan.status();
}

void expectSame(const Plan &a, const Plan &b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.specJson, b.specJson);
  EXPECT_EQ(a.modelType, b.modelType);
  EXPECT_EQ(a.batch, b.batch);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.vocabSize, b.vocabSize);
  EXPECT_EQ(a.mtpDepth, b.mtpDepth);
  EXPECT_EQ(a.initializerRange, b.initializerRange);
  EXPECT_EQ(a.persistentBytes, b.persistentBytes);
  EXPECT_EQ(a.arenaBytes, b.arenaBytes);
  ASSERT_EQ(a.buffers.size(), b.buffers.size());
  for (size_t i = 0; i < a.buffers.size(); ++i) {
    EXPECT_EQ(a.buffers[i].name, b.buffers[i].name);
    EXPECT_EQ(a.buffers[i].role, b.buffers[i].role);
    EXPECT_EQ(a.buffers[i].dtype, b.buffers[i].dtype);
    EXPECT_EQ(a.buffers[i].shape, b.buffers[i].shape);
    EXPECT_EQ(a.buffers[i].offset, b.buffers[i].offset);
    EXPECT_EQ(a.buffers[i].init, b.buffers[i].init);
    EXPECT_EQ(a.buffers[i].viewOf, b.buffers[i].viewOf);
  }
  ASSERT_EQ(a.launches.size(), b.launches.size());
  for (size_t i = 0; i < a.launches.size(); ++i) {
    EXPECT_EQ(a.launches[i].kernel, b.launches[i].kernel);
    EXPECT_EQ(a.launches[i].inputs, b.launches[i].inputs);
    EXPECT_EQ(a.launches[i].outputs, b.launches[i].outputs);
    const auto &x = a.launches[i].attrs.all(), &y = b.launches[i].attrs.all();
    ASSERT_EQ(x.size(), y.size());
    for (auto it = x.begin(), jt = y.begin(); it != x.end(); ++it, ++jt) {
      EXPECT_EQ(it->first, jt->first);
      EXPECT_EQ(it->second.kind, jt->second.kind);
      EXPECT_EQ(it->second.ints, jt->second.ints);
      EXPECT_EQ(it->second.real, jt->second.real);
      EXPECT_EQ(it->second.text, jt->second.text);
    }
  }
  ASSERT_EQ(a.updates.size(), b.updates.size());
  for (size_t i = 0; i < a.updates.size(); ++i) {
    EXPECT_EQ(a.updates[i].source, b.updates[i].source);
    EXPECT_EQ(a.updates[i].target, b.updates[i].target);
  }
}

TEST(PlanFormat, RoundTripKeepsEveryField) {
  Plan plan = samplePlan();
  std::vector<uint8_t> bytes = bytesOf(plan);
  Expected<Plan> back = parsePlan(bytes.data(), bytes.size());
  ASSERT_TRUE(back.isOk()) << back.status().message();
  expectSame(plan, *back);
}

TEST(PlanFormat, FileRoundTripLeavesNoTemporary) {
  Plan plan = samplePlan();
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/roundtrip.dsplan";
  ASSERT_TRUE(writePlanFile(plan, path).isOk());
  Expected<Plan> back = readPlanFile(path);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  expectSame(plan, *back);
  std::string leftover = path + ".tmp." + std::to_string(::getpid());
  EXPECT_FALSE(std::ifstream(leftover).good());
  std::remove(path.c_str());
}

TEST(PlanFormat, MissingFileNamesThePath) {
  Expected<Plan> plan = readPlanFile("/nonexistent/dir/x.dsplan");
  ASSERT_FALSE(plan.isOk());
  EXPECT_NE(plan.status().message().find("/nonexistent/dir/x.dsplan"), std::string::npos);
}

TEST(PlanFormat, EveryTruncationIsAnError) {
  std::vector<uint8_t> bytes = bytesOf(samplePlan());
  for (size_t length = 0; length < bytes.size(); ++length) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + length);
    Status status = parse(cut);
    ASSERT_FALSE(status.isOk()) << "length " << length;
    EXPECT_NE(status.message().find(length < 8 ? "truncated" : ""), std::string::npos);
    // With the header resealed the section decoders see the cut themselves.
    if (length >= plan_format::kHeaderBytes) {
      resealHeader(cut);
      EXPECT_FALSE(parse(cut).isOk()) << "resealed length " << length;
    }
  }
}

TEST(PlanFormat, EveryFlippedByteIsAnError) {
  std::vector<uint8_t> bytes = bytesOf(samplePlan());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> damaged = bytes;
    damaged[i] ^= 0x5A;
    EXPECT_FALSE(parse(damaged).isOk()) << "byte " << i;
  }
}

TEST(PlanFormat, ResealedDamageNeverCrashes) {
  // A hostile file carries a valid checksum: decoding must still stay in bounds. Some
  // flips give another valid plan (a changed name or dimension), so besides surviving,
  // the test asks only that most damage is caught.
  std::vector<uint8_t> bytes = bytesOf(samplePlan());
  size_t failures = 0;
  for (size_t i = plan_format::kHeaderBytes; i < bytes.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> damaged = bytes;
      damaged[i] ^= flip;
      resealHeader(damaged);
      failures += !parse(damaged).isOk();
    }
  }
  EXPECT_GT(failures, bytes.size());
}

TEST(PlanFormat, BadMagicAndVersion) {
  std::vector<uint8_t> bytes = bytesOf(samplePlan());
  std::vector<uint8_t> magic = bytes;
  magic[0] = 'X';
  EXPECT_NE(parse(magic).message().find("not a ds plan"), std::string::npos);
  std::vector<uint8_t> version = bytes;
  version[8] = 99;
  EXPECT_NE(parse(version).message().find("format version 99 is not supported"), std::string::npos);
}

TEST(PlanFormat, HugeCountIsRejectedBeforeAllocating) {
  std::vector<uint8_t> bytes = bytesOf(samplePlan());
  // The buffer count follows "buffers" section name and length; find it by its name.
  const char name[] = "buffers";
  auto it = std::search(bytes.begin(), bytes.end(), name, name + 7);
  ASSERT_NE(it, bytes.end());
  size_t countAt = (it - bytes.begin()) + 7 + 8;
  for (int i = 0; i < 4; ++i)
    bytes[countAt + i] = 0xFF;
  resealHeader(bytes);
  Status status = parse(bytes);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("buffer count"), std::string::npos) << status.message();
}

TEST(PlanFormat, UnknownKernelIsReportedByName) {
  std::vector<uint8_t> bytes = bytesOf(samplePlan());
  PlanCheckOptions options;
  options.kernelExists = [](const std::string &k) { return k != "rms_norm"; };
  Expected<Plan> plan = parsePlan(bytes.data(), bytes.size(), options);
  ASSERT_FALSE(plan.isOk());
  EXPECT_NE(plan.status().message().find("kernel 'rms_norm'"), std::string::npos);
}

} // namespace
