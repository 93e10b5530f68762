#include "runtime/plan/PlanWriter.h"

#include "runtime/plan/PlanFormat.h"
#include "runtime/plan/PlanVerifier.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace ds::rt {

namespace {

using namespace plan_format;

/// Appends little-endian fields to a byte vector.
class ByteSink {
public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u32(uint32_t v) { fixed(v, 4); }
  void u64(uint64_t v) { fixed(v, 8); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    u64(bits);
  }
  void str(const std::string &s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void raw(const std::vector<uint8_t> &b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  void attr(const AttrValue &value) {
    u8(static_cast<uint8_t>(value.kind));
    switch (value.kind) {
    case AttrValue::Kind::Ints:
      u32(static_cast<uint32_t>(value.ints.size()));
      for (int64_t v : value.ints)
        i64(v);
      break;
    case AttrValue::Kind::Float:
      f64(value.real);
      break;
    case AttrValue::Kind::String:
      str(value.text);
      break;
    }
  }
  std::vector<uint8_t> &bytes() { return bytes_; }

private:
  void fixed(uint64_t v, int n) {
    for (int i = 0; i < n; ++i)
      bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> bytes_;
};

AttrValue intValue(int64_t v) {
  AttrValue value;
  value.kind = AttrValue::Kind::Ints;
  value.ints = {v};
  return value;
}

AttrValue floatValue(double v) {
  AttrValue value;
  value.kind = AttrValue::Kind::Float;
  value.real = v;
  return value;
}

AttrValue stringValue(const std::string &v) {
  AttrValue value;
  value.kind = AttrValue::Kind::String;
  value.text = v;
  return value;
}

std::vector<uint8_t> metaSection(const Plan &plan) {
  std::vector<std::pair<std::string, AttrValue>> entries = {
      {"model_type", stringValue(plan.modelType)},
      {"spec", stringValue(plan.specJson)},
      {"batch", intValue(plan.batch)},
      {"seq", intValue(plan.seq)},
      {"vocab_size", intValue(plan.vocabSize)},
      {"mtp_depth", intValue(plan.mtpDepth)},
      {"initializer_range", floatValue(plan.initializerRange)},
      {"persistent_bytes", intValue(plan.persistentBytes)},
      {"arena_bytes", intValue(plan.arenaBytes)},
  };
  ByteSink sink;
  sink.u32(static_cast<uint32_t>(entries.size()));
  for (const auto &[key, value] : entries) {
    sink.str(key);
    sink.attr(value);
  }
  return std::move(sink.bytes());
}

std::vector<uint8_t> buffersSection(const Plan &plan) {
  ByteSink sink;
  sink.u32(static_cast<uint32_t>(plan.buffers.size()));
  for (const PlanBuffer &buffer : plan.buffers) {
    sink.str(buffer.name);
    sink.str(bufferRoleName(buffer.role));
    sink.str(dtypeName(buffer.dtype));
    sink.u32(static_cast<uint32_t>(buffer.shape.size()));
    for (int64_t d : buffer.shape)
      sink.i64(d);
    sink.i64(buffer.offset);
    sink.str(buffer.init);
    sink.i32(buffer.viewOf);
  }
  return std::move(sink.bytes());
}

std::vector<uint8_t> launchesSection(const Plan &plan) {
  ByteSink sink;
  sink.u32(static_cast<uint32_t>(plan.launches.size()));
  for (const PlanLaunch &launch : plan.launches) {
    sink.str(launch.kernel);
    for (const std::vector<int32_t> *ids : {&launch.inputs, &launch.outputs}) {
      sink.u32(static_cast<uint32_t>(ids->size()));
      for (int32_t id : *ids)
        sink.i32(id);
    }
    sink.u32(static_cast<uint32_t>(launch.attrs.all().size()));
    for (const auto &[name, value] : launch.attrs.all()) {
      sink.str(name);
      sink.attr(value);
    }
  }
  return std::move(sink.bytes());
}

std::vector<uint8_t> updatesSection(const Plan &plan) {
  ByteSink sink;
  sink.u32(static_cast<uint32_t>(plan.updates.size()));
  for (const PlanUpdate &update : plan.updates) {
    sink.i32(update.source);
    sink.i32(update.target);
  }
  return std::move(sink.bytes());
}

// The 32-bit length fields bound strings and lists; a plan exceeding them cannot be stored.
Status checkLengths(const Plan &plan) {
  constexpr uint64_t kMax = UINT32_MAX;
  if (plan.specJson.size() > kMax || plan.buffers.size() > kMax || plan.launches.size() > kMax ||
      plan.updates.size() > kMax)
    return Status::error("plan is too large for the .dsplan format (a count or the spec "
                         "exceeds 2^32-1)");
  return Status::ok();
}

} // namespace

Expected<std::vector<uint8_t>> serializePlan(const Plan &plan) {
  DS_RETURN_IF_ERROR(verifyPlan(plan));
  DS_RETURN_IF_ERROR(checkLengths(plan));
  ByteSink payload;
  std::pair<const char *, std::vector<uint8_t>> sections[] = {
      {kMetaSection, metaSection(plan)},
      {kBuffersSection, buffersSection(plan)},
      {kLaunchesSection, launchesSection(plan)},
      {kUpdatesSection, updatesSection(plan)},
  };
  for (auto &[name, content] : sections) {
    payload.str(name);
    payload.u64(content.size());
    payload.raw(content);
  }
  ByteSink file;
  for (char c : kMagic)
    file.u8(static_cast<uint8_t>(c));
  file.u32(plan.version);
  file.u32(kSectionCount);
  file.u64(payload.bytes().size());
  file.u32(crc32(payload.bytes().data(), payload.bytes().size()));
  file.u32(0);
  file.raw(payload.bytes());
  return std::move(file.bytes());
}

Status writePlanFile(const Plan &plan, const std::string &path) {
  Expected<std::vector<uint8_t>> bytes = serializePlan(plan);
  if (!bytes)
    return bytes.status();
  std::string temporary = path + ".tmp." + std::to_string(::getpid());
  FILE *file = std::fopen(temporary.c_str(), "wb");
  if (!file)
    return errorf("cannot write plan '", temporary, "': ", std::strerror(errno));
  bool written = std::fwrite(bytes->data(), 1, bytes->size(), file) == bytes->size();
  written &= std::fflush(file) == 0;
  written &= std::fclose(file) == 0;
  if (!written) {
    std::remove(temporary.c_str());
    return errorf("cannot write plan '", temporary, "': ", std::strerror(errno));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    return errorf("cannot rename plan '", temporary, "' to '", path, "': ", reason);
  }
  return Status::ok();
}

} // namespace ds::rt
