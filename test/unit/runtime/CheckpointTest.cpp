// Checkpoints on a hand-built plan run by the CPU kernels (a bigram language model with
// AdamW, as in TrainJobTest, plus a non-trained buffer): save/load is bit for bit, a run
// stopped and resumed computes the uninterrupted run's metrics exactly, a writer killed
// mid-write leaves the previous checkpoint loadable, and damaged files or a run that does
// not match the checkpoint end with errors that name the problem.
#include "runtime/train/Checkpoint.h"
#include "runtime/train/CheckpointMetricsLog.h"
#include "runtime/train/TokenData.h"
#include "runtime/train/TrainJob.h"
#include "test/unit/runtime/BigramPlan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace ds::rt;
namespace fs = std::filesystem;

namespace {

constexpr const char *kBias = "model.layers.0.mlp.gate.e_score_correction_bias";

// Width 8 and a non-trained buffer, so that a checkpoint holds every kind of binding.
Plan bigramPlan(int64_t batch = 4, double beta1 = 0.9) {
  test::BigramOptions o;
  o.batch = batch;
  o.width = 8;
  o.specJson = "{\"hidden_size\": 8}";
  o.beta1 = beta1;
  o.weightDecay = 0.01;
  o.extraBuffer = kBias;
  return test::bigramPlan(o);
}

KernelFn resolve(const std::string &name) {
  return name == "test_fill" ? test::testFill : lookupKernel(Backend::Cpu, name);
}

std::vector<int32_t> text(int repeats = 40) {
  std::string t;
  for (int i = 0; i < repeats; ++i)
    t += "pack my box with five dozen liquor jugs. ";
  return tokenizeBytes(t);
}

class CheckpointTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "ds-ckpt-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path(const std::string &name) const { return dir_ + "/" + name; }

  TrainOptions options(int64_t steps = 12) const {
    TrainOptions o;
    o.schedule = {2e-2, 3, steps, 0.1};
    o.seed = 5;
    o.planName = "bigram.dsplan";
    return o;
  }
  Expected<TrainJob> job(const TrainOptions &o, Plan plan = bigramPlan(),
                         std::vector<int32_t> tokens = text()) const {
    return TrainJob::create(std::move(plan), std::move(tokens), "text.u16", o, resolve);
  }
  // Runs a job to its end and returns its metrics lines without the timing keys.
  std::vector<std::string> runToEnd(TrainJob &j) const {
    std::vector<std::string> lines;
    Status status = j.run([&](const StepMetrics &m) { lines.push_back(withoutTiming(m)); });
    EXPECT_TRUE(status.isOk()) << status.message();
    return lines;
  }
  static std::string withoutTiming(const StepMetrics &m) {
    std::string line = m.toJson();
    return line.substr(0, line.find(std::string(",\"") + kTimingMetricKeys[0]));
  }
  // A fresh 12-step run checkpointed into `root` every 4 steps, stopped after `stop`.
  void trainAndStop(const std::string &root, int64_t stop, const std::string &metrics = "") {
    TrainOptions o = options();
    o.checkpointDir = root;
    o.checkpointEvery = 4;
    o.stopAfter = stop;
    o.metricsPath = metrics;
    Expected<TrainJob> j = job(o);
    ASSERT_TRUE(j.isOk()) << j.status().message();
    runToEnd(*j);
    ASSERT_EQ(j->completedSteps(), stop);
  }
  std::string resumeError(const TrainOptions &o, Plan plan = bigramPlan(),
                          std::vector<int32_t> tokens = text()) const {
    Expected<TrainJob> j = job(o, std::move(plan), std::move(tokens));
    EXPECT_FALSE(j.isOk()) << "resuming was expected to fail";
    return j.isOk() ? "" : j.status().message();
  }

  std::string dir_;
};

std::string contents(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void overwrite(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

#define EXPECT_HAS(haystack, needle)                                                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

TEST_F(CheckpointTest, SaveLoadIsBitForBit) {
  Expected<TrainJob> a = job(options());
  ASSERT_TRUE(a.isOk()) << a.status().message();
  // Every bit pattern must survive, NaN payloads, -0 and subnormals included.
  const Plan &plan = a->executor().plan();
  uint32_t bits = 0x7FC00123u;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    if (!isPersistentRole(plan.buffers[i].role) || plan.buffers[i].role == BufferRole::Input)
      continue;
    const TensorView &view = a->executor().view(static_cast<int32_t>(i));
    for (int64_t k = 0; k < view.numElements(); ++k, bits = bits * 747796405u + 2891336453u)
      std::memcpy(view.as<uint32_t>() + k, &bits, 4);
  }
  TrainerState state{7,
                     describeRun(plan, "bigram.dsplan", text(), "text.u16", 5, options().schedule)};
  Expected<std::string> folder = writeCheckpoint(path("ck"), a->executor(), state, 2);
  ASSERT_TRUE(folder.isOk()) << folder.status().message();
  EXPECT_EQ(*folder, path("ck/step-000007"));
  EXPECT_EQ(contents(path("ck/latest")), "step-000007\n");

  TrainOptions o = options();
  o.resumeFrom = path("ck");
  Expected<TrainJob> b = job(o);
  ASSERT_TRUE(b.isOk()) << b.status().message();
  EXPECT_EQ(b->completedSteps(), 7);
  int compared = 0;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    BufferRole role = plan.buffers[i].role;
    if (role != BufferRole::Param && role != BufferRole::Buffer && role != BufferRole::State)
      continue;
    const TensorView &x = a->executor().view(static_cast<int32_t>(i));
    const TensorView &y = b->executor().view(static_cast<int32_t>(i));
    EXPECT_EQ(std::memcmp(x.data, y.data, x.sizeInBytes()), 0) << plan.buffers[i].name;
    ++compared;
  }
  EXPECT_EQ(compared, 7); // 2 params, 1 buffer, 4 moments

  Expected<TrainerState> read = readTrainerState(*folder);
  ASSERT_TRUE(read.isOk()) << read.status().message();
  EXPECT_EQ(encodeTrainerState(*read), encodeTrainerState(state));
}

TEST_F(CheckpointTest, StoppedAndResumedRunMatchesUninterruptedExactly) {
  Expected<TrainJob> whole = job(options());
  ASSERT_TRUE(whole.isOk()) << whole.status().message();
  std::vector<std::string> expected = runToEnd(*whole);
  ASSERT_EQ(expected.size(), 12u);

  std::string metrics = path("metrics.jsonl");
  trainAndStop(path("ck"), 6, metrics);
  // The killed run had logged part of step 7 after its last checkpoint.
  std::ofstream(metrics, std::ios::app) << "{\"step\":7,\"loss\":5.5";
  TrainOptions o = options();
  o.resumeFrom = path("ck");
  o.checkpointDir = path("ck");
  o.checkpointEvery = 4;
  o.metricsPath = metrics;
  Expected<TrainJob> resumed = job(o);
  ASSERT_TRUE(resumed.isOk()) << resumed.status().message();
  EXPECT_EQ(resumed->completedSteps(), 6);
  std::vector<std::string> rest = runToEnd(*resumed);
  ASSERT_EQ(rest.size(), 6u);
  for (size_t i = 0; i < rest.size(); ++i)
    EXPECT_EQ(rest[i], expected[6 + i]) << "step " << 7 + i;

  // The metrics file reads like the uninterrupted run's: steps 1..12, once each.
  std::ifstream in(metrics);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(n, expected.size());
    EXPECT_EQ(line.substr(0, expected[n].size()), expected[n]);
    ++n;
  }
  EXPECT_EQ(n, 12u);
  // Checkpoints at 8 and 12 (the end); keep 2 pruned 4 and 6.
  Expected<std::vector<std::pair<int64_t, std::string>>> left = listCheckpoints(path("ck"));
  ASSERT_TRUE(left.isOk());
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].first, 8);
  EXPECT_EQ((*left)[1].first, 12);
  EXPECT_EQ(contents(path("ck/latest")), "step-000012\n");
}

TEST_F(CheckpointTest, StopRequestCheckpointsTheStepItStopsAt) {
  TrainOptions o = options();
  o.checkpointDir = path("ck");
  int64_t seen = 0;
  o.stopRequested = [&] { return ++seen == 5; };
  Expected<TrainJob> j = job(o);
  ASSERT_TRUE(j.isOk()) << j.status().message();
  std::vector<std::string> written;
  ASSERT_TRUE(j->run(nullptr, [&](const std::string &f) { written.push_back(f); }).isOk());
  EXPECT_TRUE(j->stoppedByRequest());
  EXPECT_EQ(j->completedSteps(), 5);
  EXPECT_EQ(written, std::vector<std::string>{path("ck/step-000005")});
}

TEST_F(CheckpointTest, KilledWriterLeavesPreviousCheckpointLoadable) {
  trainAndStop(path("ck"), 4);
  // A writer killed while writing step 8: its temporary folder holds a torn file.
  std::string stale = path("ck/.tmp-step-000008-4242");
  fs::create_directory(stale);
  std::string model = contents(path("ck/step-000004/model.safetensors"));
  overwrite(stale + "/model.safetensors", model.substr(0, model.size() / 2));

  Expected<CheckpointLocation> at = locateCheckpoint(path("ck"));
  ASSERT_TRUE(at.isOk()) << at.status().message();
  EXPECT_EQ(at->folder, path("ck/step-000004"));
  TrainOptions o = options();
  o.resumeFrom = path("ck");
  o.checkpointDir = path("ck");
  o.stopAfter = 5;
  Expected<TrainJob> j = job(o);
  ASSERT_TRUE(j.isOk()) << j.status().message();
  EXPECT_EQ(j->completedSteps(), 4);
  runToEnd(*j);
  EXPECT_FALSE(fs::exists(stale)) << "the next write removes a dead writer's folder";
  EXPECT_TRUE(fs::exists(path("ck/step-000005/trainer_state.json")));

  // Killed after renaming its folder but before updating latest: that folder is complete.
  overwrite(path("ck/latest"), "step-000004\n");
  at = locateCheckpoint(path("ck"));
  ASSERT_TRUE(at.isOk()) << at.status().message();
  EXPECT_EQ(at->folder, path("ck/step-000005"));
}

TEST_F(CheckpointTest, DamagedFilesGiveClearErrors) {
  trainAndStop(path("ck"), 4);
  std::string folder = path("ck/step-000004");
  TrainOptions o = options();
  o.resumeFrom = folder;
  std::string model = contents(folder + "/model.safetensors");
  std::string optimizer = contents(folder + "/optimizer.safetensors");
  std::string state = contents(folder + "/trainer_state.json");

  std::string flipped = model;
  flipped[flipped.size() - 3] ^= 0x40; // a byte of the last tensor's data
  overwrite(folder + "/model.safetensors", flipped);
  std::string error = resumeError(o);
  EXPECT_HAS(error, "model.safetensors: tensor '");
  EXPECT_HAS(error, "does not match its checksum (corrupted checkpoint)");
  overwrite(folder + "/model.safetensors", model);

  overwrite(folder + "/optimizer.safetensors", optimizer.substr(0, optimizer.size() - 100));
  error = resumeError(o);
  EXPECT_HAS(error, "optimizer.safetensors");
  EXPECT_HAS(error, "truncated or corrupted checkpoint?");
  overwrite(folder + "/optimizer.safetensors", optimizer);

  overwrite(folder + "/trainer_state.json", state.substr(0, state.size() / 2));
  error = resumeError(o);
  EXPECT_HAS(error, "trainer_state.json: invalid JSON at byte");
  overwrite(folder + "/trainer_state.json", state);

  fs::remove(folder + "/model.safetensors");
  EXPECT_HAS(resumeError(o), "model.safetensors");
  overwrite(folder + "/model.safetensors", model);

  TrainOptions missing = options();
  missing.resumeFrom = path("nowhere");
  EXPECT_HAS(resumeError(missing), "no such file or directory");
  fs::create_directory(path("empty"));
  missing.resumeFrom = path("empty");
  EXPECT_HAS(resumeError(missing), "holds no checkpoint");
}

TEST_F(CheckpointTest, MismatchedRunGivesClearErrors) {
  trainAndStop(path("ck"), 4);
  TrainOptions o = options();
  o.resumeFrom = path("ck");
  std::string where = "checkpoint " + path("ck/step-000004");

  EXPECT_HAS(resumeError(o, bigramPlan(2)), where + " was written for bigram.dsplan with batch 4 "
                                                    "and seq 16; this run uses batch 2 and seq 16");
  EXPECT_HAS(resumeError(o, bigramPlan(4, 0.8)), "whose kernels, buffers or optimizer settings");
  EXPECT_HAS(resumeError(o, bigramPlan(), text(41)), "pass the same --data");
  TrainOptions other = o;
  other.seed = 6;
  EXPECT_HAS(resumeError(other), "with --seed 5; this run has --seed 6");
  other = o;
  other.schedule.total = 20;
  EXPECT_HAS(resumeError(other), "with --steps 12; this run has --steps 20");
  other = o;
  other.schedule.peak = 1e-2;
  EXPECT_HAS(resumeError(other), "with --lr 0.02");
  Plan renamed = bigramPlan();
  renamed.modelType = "trigram";
  EXPECT_HAS(resumeError(o, renamed), "(a 'bigram' model");
}

TEST_F(CheckpointTest, RefusesToMixRunsInOneFolder) {
  trainAndStop(path("ck"), 8);
  TrainOptions fresh = options();
  fresh.checkpointDir = path("ck");
  EXPECT_HAS(resumeError(fresh), "already holds checkpoints (newest step-000008)");

  TrainOptions older = options();
  older.resumeFrom = path("ck/step-000004");
  older.checkpointDir = path("ck");
  EXPECT_HAS(resumeError(older), "holds checkpoints past step 4 (newest step-000008)");
  older.checkpointDir = path("branch");
  Expected<TrainJob> j = job(older);
  EXPECT_TRUE(j.isOk()) << j.status().message();
}

TEST(CheckpointNames, FolderNamesRoundTrip) {
  int64_t step = 0;
  EXPECT_EQ(checkpointFolderName(100), "step-000100");
  EXPECT_EQ(checkpointFolderName(12345678), "step-12345678");
  EXPECT_TRUE(parseCheckpointFolderName("step-000100", step));
  EXPECT_EQ(step, 100);
  EXPECT_TRUE(parseCheckpointFolderName("step-12345678", step));
  EXPECT_EQ(step, 12345678);
  for (const char *bad : {"step-100", "step-0001000x", "step-0000100", ".tmp-step-000100", ""})
    EXPECT_FALSE(parseCheckpointFolderName(bad, step)) << bad;
}

TEST(CheckpointMetricsLog, KeepsCompleteLinesThroughTheStep) {
  std::string log = "{\"step\":1,\"loss\":5}\n{\"step\":2,\"loss\":4}\n{\"step\":3,\"loss\":3}\n";
  EXPECT_EQ(metricsLinesThrough(log, 2), "{\"step\":1,\"loss\":5}\n{\"step\":2,\"loss\":4}\n");
  EXPECT_EQ(metricsLinesThrough(log, 9), log);
  EXPECT_EQ(metricsLinesThrough(log + "{\"step\":4,\"lo", 9), log);
  EXPECT_EQ(metricsLinesThrough("garbage\n" + log, 9), "");
}

TEST(CheckpointState, ParseRejectsWhatItCannotTrust) {
  TrainerState state;
  state.step = 3;
  state.config.schedule.total = 10;
  state.config.seed = ~0ull; // all 64 bits survive
  std::string json = encodeTrainerState(state);
  Expected<TrainerState> back = parseTrainerState(json, "ts.json");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->config.seed, ~0ull);
  EXPECT_EQ(encodeTrainerState(*back), json);

  auto error = [](std::string text) {
    return parseTrainerState(text, "ts.json").status().message();
  };
  std::string v2 = json;
  v2.replace(v2.find("\"version\": 1"), 12, "\"version\": 2");
  EXPECT_HAS(error(v2), "ts.json: checkpoint format version 2; this runtime reads version 1");
  std::string noStep = json;
  noStep.replace(noStep.find("\"step\""), 6, "\"stop\"");
  EXPECT_HAS(error(noStep), "ts.json: field 'step' is missing");
  std::string late = json;
  late.replace(late.find("\"step\": 3"), 9, "\"step\": 11");
  EXPECT_HAS(error(late), "step 11 is outside the run's 1..10");
}

TEST(CheckpointState, ChecksumSeesEveryByte) {
  std::vector<uint8_t> bytes(1000);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i * 7);
  uint64_t base = checksum64(bytes.data(), bytes.size());
  for (size_t i = 0; i < bytes.size(); i += 37) {
    bytes[i] ^= 1;
    EXPECT_NE(checksum64(bytes.data(), bytes.size()), base) << "byte " << i;
    bytes[i] ^= 1;
  }
  EXPECT_NE(checksum64(bytes.data(), bytes.size() - 1), base);
  uint64_t parsed = 0;
  EXPECT_TRUE(parseChecksumHex(checksumHex(base), parsed));
  EXPECT_EQ(parsed, base);
  EXPECT_FALSE(parseChecksumHex("0123", parsed));
}

} // namespace
