#include "runtime/plan/PlanReader.h"

#include "runtime/plan/PlanFormat.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

namespace ds::rt {

namespace {

using namespace plan_format;

/// Reads little-endian fields from [data, data + size), refusing to read past the end.
/// `base` is the position of data[0] in the file, so errors give file offsets.
class ByteSource {
public:
  ByteSource(const uint8_t *data, size_t size, size_t base)
      : data_(data), size_(size), base_(base) {}

  size_t remaining() const { return size_ - pos_; }
  size_t offset() const { return base_ + pos_; }

  Status need(uint64_t bytes, const std::string &field) {
    if (bytes > remaining())
      return errorf("plan is truncated: ", field, " at byte ", offset(), " needs ", bytes,
                    " bytes but only ", remaining(), " remain");
    return Status::ok();
  }
  Status skip(uint64_t bytes, const std::string &field) {
    DS_RETURN_IF_ERROR(need(bytes, field));
    pos_ += bytes;
    return Status::ok();
  }
  Status u8(uint8_t &v, const std::string &field) {
    DS_RETURN_IF_ERROR(need(1, field));
    v = data_[pos_++];
    return Status::ok();
  }
  Status u32(uint32_t &v, const std::string &field) {
    uint64_t wide;
    DS_RETURN_IF_ERROR(fixed(wide, 4, field));
    v = static_cast<uint32_t>(wide);
    return Status::ok();
  }
  Status u64(uint64_t &v, const std::string &field) { return fixed(v, 8, field); }
  Status i32(int32_t &v, const std::string &field) {
    uint32_t bits;
    DS_RETURN_IF_ERROR(u32(bits, field));
    v = static_cast<int32_t>(bits);
    return Status::ok();
  }
  Status i64(int64_t &v, const std::string &field) {
    uint64_t bits;
    DS_RETURN_IF_ERROR(u64(bits, field));
    v = static_cast<int64_t>(bits);
    return Status::ok();
  }
  Status f64(double &v, const std::string &field) {
    uint64_t bits;
    DS_RETURN_IF_ERROR(u64(bits, field));
    std::memcpy(&v, &bits, sizeof v);
    return Status::ok();
  }
  Status str(std::string &v, const std::string &field) {
    uint32_t length;
    DS_RETURN_IF_ERROR(u32(length, field + " length"));
    DS_RETURN_IF_ERROR(need(length, field));
    v.assign(reinterpret_cast<const char *>(data_ + pos_), length);
    pos_ += length;
    return Status::ok();
  }
  /// Reads a u32 element count and checks that `count * minElementBytes` bytes remain, so
  /// a hostile count cannot make the caller reserve memory the file does not back.
  Status count(uint32_t &n, size_t minElementBytes, const std::string &field) {
    size_t at = offset();
    DS_RETURN_IF_ERROR(u32(n, field));
    if (static_cast<uint64_t>(n) * minElementBytes > remaining())
      return errorf("plan is corrupt: ", field, " at byte ", at, " is ", n, " but only ",
                    remaining(), " bytes remain");
    return Status::ok();
  }
  Status attr(AttrValue &value, const std::string &field) {
    size_t at = offset();
    uint8_t kind;
    DS_RETURN_IF_ERROR(u8(kind, field + " kind"));
    switch (kind) {
    case static_cast<uint8_t>(AttrValue::Kind::Ints): {
      value.kind = AttrValue::Kind::Ints;
      uint32_t n;
      DS_RETURN_IF_ERROR(count(n, 8, field + " element count"));
      value.ints.resize(n);
      for (int64_t &v : value.ints)
        DS_RETURN_IF_ERROR(i64(v, field));
      return Status::ok();
    }
    case static_cast<uint8_t>(AttrValue::Kind::Float):
      value.kind = AttrValue::Kind::Float;
      return f64(value.real, field);
    case static_cast<uint8_t>(AttrValue::Kind::String):
      value.kind = AttrValue::Kind::String;
      return str(value.text, field);
    default:
      return errorf("plan is corrupt: ", field, " at byte ", at, " has unknown kind ",
                    static_cast<int>(kind));
    }
  }
  Status expectEnd(const std::string &section) {
    if (remaining() != 0)
      return errorf("plan is corrupt: section '", section, "' has ", remaining(),
                    " unread bytes at byte ", offset());
    return Status::ok();
  }

private:
  Status fixed(uint64_t &v, int n, const std::string &field) {
    DS_RETURN_IF_ERROR(need(n, field));
    v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += n;
    return Status::ok();
  }

  const uint8_t *data_;
  size_t size_;
  size_t base_;
  size_t pos_ = 0;
};

Status readMeta(ByteSource &in, Plan &plan) {
  uint32_t n;
  DS_RETURN_IF_ERROR(in.count(n, 5, "meta entry count"));
  std::map<std::string, AttrValue> entries;
  for (uint32_t i = 0; i < n; ++i) {
    std::string key;
    DS_RETURN_IF_ERROR(in.str(key, "meta key"));
    AttrValue value;
    DS_RETURN_IF_ERROR(in.attr(value, "meta '" + key + "'"));
    entries[key] = std::move(value);
  }
  DS_RETURN_IF_ERROR(in.expectEnd(kMetaSection));
  auto get = [&](const char *key, AttrValue::Kind kind, AttrValue *&out) -> Status {
    auto it = entries.find(key);
    if (it == entries.end())
      return errorf("plan meta lacks '", key, "'");
    if (it->second.kind != kind || (kind == AttrValue::Kind::Ints && it->second.ints.size() != 1))
      return errorf("plan meta '", key, "' has the wrong kind");
    out = &it->second;
    return Status::ok();
  };
  AttrValue *v;
  DS_RETURN_IF_ERROR(get("model_type", AttrValue::Kind::String, v));
  plan.modelType = v->text;
  DS_RETURN_IF_ERROR(get("spec", AttrValue::Kind::String, v));
  plan.specJson = v->text;
  std::pair<const char *, int64_t *> ints[] = {{"batch", &plan.batch},
                                               {"seq", &plan.seq},
                                               {"vocab_size", &plan.vocabSize},
                                               {"mtp_depth", &plan.mtpDepth},
                                               {"persistent_bytes", &plan.persistentBytes},
                                               {"arena_bytes", &plan.arenaBytes}};
  for (auto &[key, field] : ints) {
    DS_RETURN_IF_ERROR(get(key, AttrValue::Kind::Ints, v));
    *field = v->ints[0];
  }
  DS_RETURN_IF_ERROR(get("initializer_range", AttrValue::Kind::Float, v));
  plan.initializerRange = v->real;
  return Status::ok();
}

Status readBuffers(ByteSource &in, Plan &plan) {
  uint32_t n;
  // Smallest buffer record: four empty strings, rank 0, the offset and view_of.
  DS_RETURN_IF_ERROR(in.count(n, 4 * 4 + 4 + 8 + 4, "buffer count"));
  plan.buffers.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    PlanBuffer &buffer = plan.buffers[i];
    std::string field = "buffer " + std::to_string(i);
    DS_RETURN_IF_ERROR(in.str(buffer.name, field + " name"));
    field += " ('" + buffer.name + "')";
    size_t at = in.offset();
    std::string role, dtype;
    DS_RETURN_IF_ERROR(in.str(role, field + " role"));
    if (!parseBufferRole(role, buffer.role))
      return errorf("plan is corrupt: ", field, " role '", role, "' at byte ", at, " is unknown");
    at = in.offset();
    DS_RETURN_IF_ERROR(in.str(dtype, field + " dtype"));
    if (!parseDType(dtype, buffer.dtype))
      return errorf("plan is corrupt: ", field, " dtype '", dtype, "' at byte ", at, " is unknown");
    uint32_t rank;
    DS_RETURN_IF_ERROR(in.count(rank, 8, field + " rank"));
    buffer.shape.resize(rank);
    for (int64_t &d : buffer.shape)
      DS_RETURN_IF_ERROR(in.i64(d, field + " dimension"));
    DS_RETURN_IF_ERROR(in.i64(buffer.offset, field + " offset"));
    DS_RETURN_IF_ERROR(in.str(buffer.init, field + " init"));
    DS_RETURN_IF_ERROR(in.i32(buffer.viewOf, field + " view_of"));
  }
  return in.expectEnd(kBuffersSection);
}

Status readLaunches(ByteSource &in, Plan &plan) {
  uint32_t n;
  // Smallest launch record: an empty kernel name and three zero counts.
  DS_RETURN_IF_ERROR(in.count(n, 4 * 4, "launch count"));
  plan.launches.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    PlanLaunch &launch = plan.launches[i];
    std::string field = "launch " + std::to_string(i);
    DS_RETURN_IF_ERROR(in.str(launch.kernel, field + " kernel"));
    field += " ('" + launch.kernel + "')";
    for (auto *ids : {&launch.inputs, &launch.outputs}) {
      std::string which = field + (ids == &launch.inputs ? " inputs" : " outputs");
      uint32_t count;
      DS_RETURN_IF_ERROR(in.count(count, 4, which + " count"));
      ids->resize(count);
      for (int32_t &id : *ids)
        DS_RETURN_IF_ERROR(in.i32(id, which));
    }
    uint32_t attrCount;
    DS_RETURN_IF_ERROR(in.count(attrCount, 4 + 1 + 4, field + " attribute count"));
    for (uint32_t a = 0; a < attrCount; ++a) {
      std::string name;
      DS_RETURN_IF_ERROR(in.str(name, field + " attribute name"));
      AttrValue value;
      DS_RETURN_IF_ERROR(in.attr(value, field + " attribute '" + name + "'"));
      launch.attrs.all()[name] = std::move(value);
    }
  }
  return in.expectEnd(kLaunchesSection);
}

Status readUpdates(ByteSource &in, Plan &plan) {
  uint32_t n;
  DS_RETURN_IF_ERROR(in.count(n, 8, "update count"));
  plan.updates.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    std::string field = "update " + std::to_string(i);
    DS_RETURN_IF_ERROR(in.i32(plan.updates[i].source, field + " source"));
    DS_RETURN_IF_ERROR(in.i32(plan.updates[i].target, field + " target"));
  }
  return in.expectEnd(kUpdatesSection);
}

} // namespace

Expected<Plan> parsePlan(const uint8_t *data, size_t size, const PlanCheckOptions &options) {
  ByteSource header(data, size, 0);
  DS_RETURN_IF_ERROR(header.need(kHeaderBytes, "header"));
  if (std::memcmp(data, kMagic, sizeof kMagic) != 0)
    return Status::error("not a ds plan: the file does not start with \"DSPLAN\"");
  DS_RETURN_IF_ERROR(header.skip(sizeof kMagic, "magic"));
  Plan plan;
  uint32_t sectionCount, crc, reserved;
  uint64_t payloadBytes;
  DS_RETURN_IF_ERROR(header.u32(plan.version, "format version"));
  if (plan.version != kPlanFormatVersion)
    return errorf("plan format version ", plan.version, " is not supported (this runtime reads ",
                  kPlanFormatVersion, "); recompile the model with a matching ds-compile");
  DS_RETURN_IF_ERROR(header.u32(sectionCount, "section count"));
  DS_RETURN_IF_ERROR(header.u64(payloadBytes, "payload size"));
  DS_RETURN_IF_ERROR(header.u32(crc, "checksum"));
  DS_RETURN_IF_ERROR(header.u32(reserved, "reserved word"));
  if (payloadBytes != header.remaining())
    return errorf("plan is ", payloadBytes > header.remaining() ? "truncated" : "corrupt",
                  ": the header promises ", payloadBytes, " payload bytes but the file has ",
                  header.remaining());
  const uint8_t *payload = data + kHeaderBytes;
  if (crc32(payload, payloadBytes) != crc)
    return Status::error("plan is corrupt: the payload checksum does not match the header");
  if (reserved != 0)
    return errorf("plan is corrupt: the reserved header word at byte 28 is ", reserved);
  if (sectionCount != kSectionCount)
    return errorf("plan is corrupt: ", sectionCount, " sections, expected ", kSectionCount);

  using Reader = Status (*)(ByteSource &, Plan &);
  std::map<std::string, Reader> readers = {{kMetaSection, readMeta},
                                           {kBuffersSection, readBuffers},
                                           {kLaunchesSection, readLaunches},
                                           {kUpdatesSection, readUpdates}};
  ByteSource sections(payload, payloadBytes, kHeaderBytes);
  for (uint32_t s = 0; s < sectionCount; ++s) {
    std::string name;
    size_t at = sections.offset();
    DS_RETURN_IF_ERROR(sections.str(name, "section name"));
    uint64_t length;
    DS_RETURN_IF_ERROR(sections.u64(length, "section '" + name + "' length"));
    DS_RETURN_IF_ERROR(sections.need(length, "section '" + name + "'"));
    auto reader = readers.find(name);
    if (reader == readers.end())
      return errorf("plan is corrupt: unknown or repeated section '", name, "' at byte ", at);
    ByteSource content(payload + (sections.offset() - kHeaderBytes), length, sections.offset());
    DS_RETURN_IF_ERROR(reader->second(content, plan));
    readers.erase(reader);
    DS_RETURN_IF_ERROR(sections.skip(length, "section '" + name + "'"));
  }
  DS_RETURN_IF_ERROR(sections.expectEnd("payload"));
  DS_RETURN_IF_ERROR(verifyPlan(plan, options));
  return plan;
}

Expected<Plan> readPlanFile(const std::string &path, const PlanCheckOptions &options) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return errorf(path, ": cannot open plan: ", std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                             std::istreambuf_iterator<char>());
  if (file.bad())
    return errorf(path, ": cannot read plan: ", std::strerror(errno));
  Expected<Plan> plan = parsePlan(bytes.data(), bytes.size(), options);
  if (!plan)
    return errorf(path, ": ", plan.status().message());
  return plan;
}

} // namespace ds::rt
