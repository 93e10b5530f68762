#include "runtime/train/CheckpointState.h"

#include "runtime/io/Json.h"
#include "runtime/train/Initialize.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ds::rt {

namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull, kPrime2 = 0xC2B2AE3D27D4EB4Full;

uint64_t rotateLeft(uint64_t x, int bits) { return (x << bits) | (x >> (64 - bits)); }

// The canonical bytes of a plan: every field length-prefixed or terminated, so two
// different plans never give the same text.
class Canonical {
public:
  void text(const std::string &s) { out_ += std::to_string(s.size()) + ':' + s; }
  void integer(int64_t v) { out_ += std::to_string(v) + ';'; }
  void real(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    integer(static_cast<int64_t>(bits));
  }
  void ints(const std::vector<int64_t> &values) {
    integer(static_cast<int64_t>(values.size()));
    for (int64_t v : values)
      integer(v);
  }
  void ids(const std::vector<int32_t> &values) {
    integer(static_cast<int64_t>(values.size()));
    for (int32_t v : values)
      integer(v);
  }
  uint64_t checksum() const { return checksum64(out_.data(), out_.size()); }

private:
  std::string out_;
};

// The shortest decimal that reads back as the same double (at most 17 digits).
std::string real17(double value) {
  char text[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  return text;
}

std::string quoted(const std::string &text) {
  std::string out;
  appendJsonString(out, text);
  return out;
}

// Field access for parseTrainerState: each getter names the missing or mistyped field.
class Fields {
public:
  explicit Fields(const std::string &source) : source_(source) {}

  const JsonValue *object(const JsonValue &parent, const char *key, Status &status) const {
    const JsonValue *value = get(parent, key, status);
    if (value && !value->isObject())
      return fail(key, "an object", status);
    return value;
  }
  void integer(const JsonValue &parent, const char *key, int64_t &out, Status &status) const {
    const JsonValue *value = get(parent, key, status);
    if (value && !value->isInteger())
      fail(key, "an integer", status);
    else if (value)
      out = value->asInteger();
  }
  void real(const JsonValue &parent, const char *key, double &out, Status &status) const {
    const JsonValue *value = get(parent, key, status);
    if (value && !value->isNumber())
      fail(key, "a number", status);
    else if (value)
      out = value->asNumber();
  }
  void text(const JsonValue &parent, const char *key, std::string &out, Status &status) const {
    const JsonValue *value = get(parent, key, status);
    if (value && !value->isString())
      fail(key, "a string", status);
    else if (value)
      out = value->asString();
  }
  void unsignedText(const JsonValue &parent, const char *key, uint64_t &out, Status &status) const {
    std::string digits;
    text(parent, key, digits, status);
    errno = 0;
    char *end = nullptr;
    if (status)
      out = std::strtoull(digits.c_str(), &end, 10);
    if (status && (digits.empty() || digits.size() > 20 ||
                   digits.find_first_not_of("0123456789") != std::string::npos || errno != 0))
      fail(key, "a decimal number below 2^64 in a string", status);
  }
  void checksum(const JsonValue &parent, const char *key, uint64_t &out, Status &status) const {
    std::string hex;
    text(parent, key, hex, status);
    if (status && !parseChecksumHex(hex, out))
      fail(key, "16 hex digits", status);
  }

private:
  const JsonValue *get(const JsonValue &parent, const char *key, Status &status) const {
    if (!status)
      return nullptr;
    const JsonValue *value = parent.find(key);
    if (!value)
      status = errorf(source_, ": field '", key, "' is missing");
    return value;
  }
  const JsonValue *fail(const char *key, const char *expected, Status &status) const {
    status = errorf(source_, ": field '", key, "' is not ", expected);
    return nullptr;
  }
  std::string source_;
};

} // namespace

uint64_t checksum64(const void *data, size_t size) {
  const auto *bytes = static_cast<const uint8_t *>(data);
  // Four independent lanes let the multiplies of consecutive words overlap in the CPU.
  uint64_t lanes[4] = {kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    for (int lane = 0; lane < 4; ++lane) {
      uint64_t word;
      std::memcpy(&word, bytes + i + 8 * lane, 8);
      lanes[lane] = rotateLeft(lanes[lane] + word * kPrime2, 31) * kPrime1;
    }
  }
  uint64_t hash = mixSeed(static_cast<uint64_t>(size));
  for (uint64_t lane : lanes)
    hash = mixSeed(hash ^ lane);
  for (; i < size; ++i)
    hash = rotateLeft(hash ^ (bytes[i] * kPrime1), 23) * kPrime2;
  return mixSeed(hash);
}

std::string checksumHex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

bool parseChecksumHex(const std::string &text, uint64_t &value) {
  if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string::npos)
    return false;
  value = std::strtoull(text.c_str(), nullptr, 16);
  return true;
}

uint64_t planFingerprint(const Plan &plan) {
  Canonical c;
  c.text(plan.specJson);
  c.text(plan.modelType);
  c.ints({plan.batch, plan.seq, plan.vocabSize, plan.mtpDepth});
  c.real(plan.initializerRange);
  c.integer(static_cast<int64_t>(plan.buffers.size()));
  for (const PlanBuffer &buffer : plan.buffers) {
    c.text(buffer.name);
    c.integer(static_cast<int64_t>(buffer.role));
    c.integer(static_cast<int64_t>(buffer.dtype));
    c.ints(buffer.shape);
    c.text(buffer.init);
  }
  c.integer(static_cast<int64_t>(plan.launches.size()));
  for (const PlanLaunch &launch : plan.launches) {
    c.text(launch.kernel);
    c.ids(launch.inputs);
    c.ids(launch.outputs);
    c.integer(static_cast<int64_t>(launch.attrs.all().size()));
    for (const auto &[name, value] : launch.attrs.all()) {
      c.text(name);
      c.integer(static_cast<int64_t>(value.kind));
      c.ints(value.ints);
      c.real(value.real);
      c.text(value.text);
    }
  }
  c.integer(static_cast<int64_t>(plan.updates.size()));
  for (const PlanUpdate &update : plan.updates)
    c.ids({update.source, update.target});
  return c.checksum();
}

RunConfig describeRun(const Plan &plan, const std::string &planName,
                      const std::vector<int32_t> &tokens, const std::string &dataName,
                      uint64_t seed, const LrSchedule &schedule) {
  RunConfig config;
  config.planName = planName;
  config.modelType = plan.modelType;
  config.batch = plan.batch;
  config.seq = plan.seq;
  config.specFingerprint = checksum64(plan.specJson.data(), plan.specJson.size());
  config.planFingerprint = planFingerprint(plan);
  config.dataName = dataName;
  config.dataTokens = static_cast<int64_t>(tokens.size());
  config.dataFingerprint = checksum64(tokens.data(), tokens.size() * sizeof(int32_t));
  config.seed = seed;
  config.schedule = schedule;
  return config;
}

Status checkResumable(const RunConfig &saved, const RunConfig &run, const std::string &checkpoint) {
  std::string was = checkpoint + " was written for " + saved.planName;
  if (saved.batch != run.batch || saved.seq != run.seq)
    return errorf(was, " with batch ", saved.batch, " and seq ", saved.seq,
                  "; this run uses batch ", run.batch, " and seq ", run.seq,
                  " (use a plan for batch ", saved.batch, " and seq ", saved.seq, ")");
  if (saved.modelType != run.modelType || saved.specFingerprint != run.specFingerprint)
    return errorf(was, " (a '", saved.modelType, "' model, spec ",
                  checksumHex(saved.specFingerprint), "); this run trains ", run.planName, " (a '",
                  run.modelType, "' model, spec ", checksumHex(run.specFingerprint),
                  "): resume with the model the checkpoint was written for");
  if (saved.planFingerprint != run.planFingerprint)
    return errorf(was, " with a plan (fingerprint ", checksumHex(saved.planFingerprint),
                  ") whose kernels, buffers or optimizer settings differ from this run's ",
                  run.planName, " (fingerprint ", checksumHex(run.planFingerprint),
                  "): resume with the plan the checkpoint was written for");
  if (saved.dataTokens != run.dataTokens || saved.dataFingerprint != run.dataFingerprint)
    return errorf(checkpoint, " was trained on ", saved.dataName, " (", saved.dataTokens,
                  " tokens, fingerprint ", checksumHex(saved.dataFingerprint), "); this run's ",
                  run.dataName, " differs (", run.dataTokens, " tokens, fingerprint ",
                  checksumHex(run.dataFingerprint), "): pass the same --data");
  auto differs = [&](const char *flag, const std::string &savedValue, const std::string &runValue,
                     const char *why) {
    return errorf(checkpoint, " was written by a run with ", flag, " ", savedValue,
                  "; this run has ", flag, " ", runValue, " (", why, ")");
  };
  const char *scheduleWhy = "the learning rate of every remaining step depends on it";
  if (saved.seed != run.seed)
    return differs("--seed", std::to_string(saved.seed), std::to_string(run.seed),
                   "the data windows of every remaining step depend on it");
  const LrSchedule &a = saved.schedule, &b = run.schedule;
  if (a.total != b.total)
    return differs("--steps", std::to_string(a.total), std::to_string(b.total), scheduleWhy);
  if (a.peak != b.peak)
    return differs("--lr", real17(a.peak), real17(b.peak), scheduleWhy);
  if (a.warmup != b.warmup)
    return differs("--warmup", std::to_string(a.warmup), std::to_string(b.warmup), scheduleWhy);
  if (a.minRatio != b.minRatio)
    return differs("--min-lr-ratio", real17(a.minRatio), real17(b.minRatio), scheduleWhy);
  return Status::ok();
}

std::string encodeTrainerState(const TrainerState &state) {
  const RunConfig &c = state.config;
  std::string out = "{\n  \"format\": \"ds-checkpoint\",\n  \"version\": " +
                    std::to_string(kCheckpointFormatVersion) +
                    ",\n  \"step\": " + std::to_string(state.step) + ",\n";
  out += "  \"plan\": {\"name\": " + quoted(c.planName) +
         ", \"model_type\": " + quoted(c.modelType) + ", \"batch\": " + std::to_string(c.batch) +
         ", \"seq\": " + std::to_string(c.seq) + ",\n           \"spec_fingerprint\": \"" +
         checksumHex(c.specFingerprint) + "\", \"plan_fingerprint\": \"" +
         checksumHex(c.planFingerprint) + "\"},\n";
  out += "  \"data\": {\"name\": " + quoted(c.dataName) +
         ", \"tokens\": " + std::to_string(c.dataTokens) + ", \"fingerprint\": \"" +
         checksumHex(c.dataFingerprint) + "\"},\n";
  // A string: the seed takes all 64 bits, and JSON readers (ours too) stop at 2^63.
  out += "  \"seed\": \"" + std::to_string(c.seed) + "\",\n";
  out += "  \"schedule\": {\"lr\": " + real17(c.schedule.peak) +
         ", \"warmup\": " + std::to_string(c.schedule.warmup) +
         ", \"steps\": " + std::to_string(c.schedule.total) +
         ", \"min_lr_ratio\": " + real17(c.schedule.minRatio) + "}\n}\n";
  return out;
}

Expected<TrainerState> parseTrainerState(const std::string &text, const std::string &source) {
  Expected<JsonValue> json = parseJson(text);
  if (!json)
    return errorf(source, ": ", json.status().message(), " (truncated or corrupted file?)");
  if (!json->isObject())
    return errorf(source, ": not a JSON object");
  Fields f(source);
  Status status;
  std::string format;
  int64_t version = 0;
  f.text(*json, "format", format, status);
  f.integer(*json, "version", version, status);
  if (status && format != "ds-checkpoint")
    return errorf(source, ": format is '", format, "', not 'ds-checkpoint'");
  if (status && version != kCheckpointFormatVersion)
    return errorf(source, ": checkpoint format version ", version, "; this runtime reads version ",
                  kCheckpointFormatVersion);

  TrainerState state;
  RunConfig &c = state.config;
  f.integer(*json, "step", state.step, status);
  const JsonValue *plan = f.object(*json, "plan", status);
  if (plan) {
    f.text(*plan, "name", c.planName, status);
    f.text(*plan, "model_type", c.modelType, status);
    f.integer(*plan, "batch", c.batch, status);
    f.integer(*plan, "seq", c.seq, status);
    f.checksum(*plan, "spec_fingerprint", c.specFingerprint, status);
    f.checksum(*plan, "plan_fingerprint", c.planFingerprint, status);
  }
  const JsonValue *data = f.object(*json, "data", status);
  if (data) {
    f.text(*data, "name", c.dataName, status);
    f.integer(*data, "tokens", c.dataTokens, status);
    f.checksum(*data, "fingerprint", c.dataFingerprint, status);
  }
  f.unsignedText(*json, "seed", c.seed, status);
  const JsonValue *schedule = f.object(*json, "schedule", status);
  if (schedule) {
    f.real(*schedule, "lr", c.schedule.peak, status);
    f.integer(*schedule, "warmup", c.schedule.warmup, status);
    f.integer(*schedule, "steps", c.schedule.total, status);
    f.real(*schedule, "min_lr_ratio", c.schedule.minRatio, status);
  }
  if (!status)
    return status;
  if (state.step < 1 || state.step > c.schedule.total)
    return errorf(source, ": step ", state.step, " is outside the run's 1..", c.schedule.total);
  return state;
}

} // namespace ds::rt
