//===- Safetensors.cpp - validating safetensors reader --------------------===//
#include "runtime/io/Safetensors.h"

#include "runtime/io/Json.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace ds::rt {

namespace {

/// Headers of valid files nest three levels (header, tensor entry, shape); anything
/// much deeper is hostile and is rejected before it costs memory.
constexpr size_t kHeaderMaxDepth = 8;

std::string quoted(std::string_view text) {
  std::string out;
  appendJsonString(out, text);
  return out;
}

/// A JSON value as an error message shows it: numbers and strings verbatim, containers
/// by kind.
std::string describe(const JsonValue &value) {
  if (value.isInteger())
    return std::to_string(value.asInteger());
  if (value.isNumber()) {
    std::ostringstream os;
    os << value.asNumber();
    return os.str();
  }
  if (value.isString())
    return "the string " + quoted(value.asString());
  return std::string("a JSON ") + jsonKindName(value.kind());
}

std::string offsetsString(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Multiplies the dimensions and the element size, failing instead of wrapping.
bool checkedByteSize(const std::vector<int64_t> &shape, size_t elementSize, uint64_t &bytes) {
  uint64_t product = elementSize;
  for (int64_t dim : shape)
    if (dim == 0) {
      bytes = 0;
      return true;
    }
  for (int64_t dim : shape)
    if (__builtin_mul_overflow(product, static_cast<uint64_t>(dim), &product))
      return false;
  bytes = product;
  return true;
}

Status parseMetadata(const JsonValue &value, std::map<std::string, std::string> &metadata) {
  if (!value.isObject())
    return errorf("__metadata__ is ", describe(value), ", expected an object of strings");
  for (const JsonMember &member : value.members()) {
    if (!member.value.isString())
      return errorf("__metadata__: value of ", quoted(member.key), " is ", describe(member.value),
                    ", expected a string");
    metadata[member.key] = member.value.asString();
  }
  return Status::ok();
}

/// Reads a non-negative integer field element; `what` names it in errors.
Status nonNegativeInteger(const JsonValue &value, const std::string &what, int64_t &out) {
  if (!value.isInteger() || value.asInteger() < 0)
    return errorf(what, " is ", describe(value), ", expected a non-negative integer");
  out = value.asInteger();
  return Status::ok();
}

Status parseTensorEntry(const JsonMember &member, uint64_t dataSize, SafetensorsTensorInfo &info) {
  info.name = member.key;
  std::string prefix = "tensor " + quoted(member.key) + ": ";
  const JsonValue &entry = member.value;
  if (!entry.isObject())
    return errorf(prefix, "entry is ", describe(entry), ", expected an object");

  const JsonValue *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const JsonMember &field : entry.members()) {
    if (field.key == "dtype")
      dtype = &field.value;
    else if (field.key == "shape")
      shape = &field.value;
    else if (field.key == "data_offsets")
      offsets = &field.value;
    else
      return errorf(prefix, "unknown field ", quoted(field.key));
  }
  for (auto [field, name] :
       {std::pair{dtype, "dtype"}, std::pair{shape, "shape"}, std::pair{offsets, "data_offsets"}})
    if (!field)
      return errorf(prefix, "missing field \"", name, "\"");

  if (!dtype->isString())
    return errorf(prefix, "dtype is ", describe(*dtype), ", expected a string");
  if (!parseSafetensorsDType(dtype->asString(), info.dtype))
    return errorf(prefix, "unknown dtype ", quoted(dtype->asString()));

  if (!shape->isArray())
    return errorf(prefix, "shape is ", describe(*shape), ", expected an array");
  for (size_t i = 0; i < shape->elements().size(); ++i) {
    int64_t dim;
    DS_RETURN_IF_ERROR(
        nonNegativeInteger(shape->elements()[i], prefix + "shape[" + std::to_string(i) + "]", dim));
    info.shape.push_back(dim);
  }

  if (!offsets->isArray())
    return errorf(prefix, "data_offsets is ", describe(*offsets), ", expected an array");
  if (offsets->elements().size() != 2)
    return errorf(prefix, "data_offsets has ", offsets->elements().size(),
                  " elements, expected 2 ([begin, end])");
  int64_t begin, end;
  DS_RETURN_IF_ERROR(nonNegativeInteger(offsets->elements()[0], prefix + "data_offsets[0]", begin));
  DS_RETURN_IF_ERROR(nonNegativeInteger(offsets->elements()[1], prefix + "data_offsets[1]", end));
  info.begin = static_cast<uint64_t>(begin);
  info.end = static_cast<uint64_t>(end);
  if (info.begin > info.end)
    return errorf(prefix, "data_offsets ", offsetsString(info.begin, info.end),
                  " end before they begin");
  if (info.end > dataSize)
    return errorf(prefix, "data_offsets ", offsetsString(info.begin, info.end),
                  " run past the end of the data section (", dataSize, " bytes)");

  uint64_t needed;
  size_t elementSize = safetensorsDTypeSize(info.dtype);
  if (!checkedByteSize(info.shape, elementSize, needed))
    return errorf(prefix, "shape ", shapeString(info.shape), " of ",
                  safetensorsDTypeName(info.dtype), " is larger than 2^64 bytes");
  if (needed != info.byteSize())
    return errorf(prefix, "shape ", shapeString(info.shape), " of ",
                  safetensorsDTypeName(info.dtype), " needs ", needed, " bytes but data_offsets ",
                  offsetsString(info.begin, info.end), " hold ", info.byteSize());
  return Status::ok();
}

/// No byte of the data section may belong to two tensors, and (optionally) every byte
/// must belong to one: then every tensor's bytes are exactly what its header claims.
Status checkLayout(const std::vector<SafetensorsTensorInfo> &tensors, uint64_t dataSize,
                   bool requireFullCoverage) {
  std::vector<const SafetensorsTensorInfo *> byOffset;
  for (const SafetensorsTensorInfo &info : tensors)
    if (info.byteSize() > 0) // an empty range owns no byte and overlaps nothing
      byOffset.push_back(&info);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const SafetensorsTensorInfo *a, const SafetensorsTensorInfo *b) {
              return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
            });
  uint64_t covered = 0; // every byte below this belongs to a tensor seen so far
  const SafetensorsTensorInfo *previous = nullptr;
  for (const SafetensorsTensorInfo *info : byOffset) {
    if (previous && info->begin < previous->end)
      return errorf("tensors ", quoted(previous->name), " and ", quoted(info->name),
                    " overlap: data_offsets ", offsetsString(previous->begin, previous->end),
                    " and ", offsetsString(info->begin, info->end));
    if (requireFullCoverage && info->begin != covered)
      return errorf("data section bytes [", covered, ", ", info->begin,
                    ") belong to no tensor (tensors must cover the data section exactly)");
    covered = info->end;
    previous = info;
  }
  if (requireFullCoverage && covered != dataSize)
    return errorf("data section bytes [", covered, ", ", dataSize,
                  ") belong to no tensor (tensors must cover the data section exactly)");
  return Status::ok();
}

} // namespace

uint64_t SafetensorsTensorInfo::numElements() const {
  uint64_t n = 1;
  for (int64_t dim : shape)
    n *= static_cast<uint64_t>(dim); // cannot wrap: the header check bounded the product
  return n;
}

Expected<SafetensorsHeader> parseSafetensorsHeader(const uint8_t *data, size_t size,
                                                   const SafetensorsReadOptions &options) {
  if (size < 8)
    return errorf("file is ", size, " bytes, too short for the 8-byte header length");
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i)
    headerBytes = (headerBytes << 8) | data[i];
  if (headerBytes > options.maxHeaderBytes)
    return errorf("header length ", headerBytes, " exceeds the limit of ", options.maxHeaderBytes,
                  " bytes");
  if (headerBytes > size - 8)
    return errorf("header length ", headerBytes, " runs past the end of the file (only ", size - 8,
                  " bytes follow the length field)");

  JsonLimits limits;
  limits.maxBytes = static_cast<size_t>(headerBytes);
  limits.maxDepth = kHeaderMaxDepth;
  std::string_view text(reinterpret_cast<const char *>(data + 8), static_cast<size_t>(headerBytes));
  Expected<JsonValue> root = parseJson(text, limits);
  if (!root)
    return errorf("header (byte offsets count from its start at file byte 8): ",
                  root.status().message());
  if (!root->isObject())
    return errorf("header is ", describe(*root), ", expected a JSON object");

  SafetensorsHeader header;
  header.dataStart = 8 + headerBytes;
  uint64_t dataSize = size - header.dataStart;
  for (const JsonMember &member : root->members()) {
    if (member.key == "__metadata__") {
      DS_RETURN_IF_ERROR(parseMetadata(member.value, header.metadata));
      continue;
    }
    SafetensorsTensorInfo info;
    DS_RETURN_IF_ERROR(parseTensorEntry(member, dataSize, info));
    header.tensors.push_back(std::move(info));
  }
  DS_RETURN_IF_ERROR(checkLayout(header.tensors, dataSize, options.requireFullCoverage));
  return header;
}

SafetensorsFile::SafetensorsFile(std::string path, FileBytes bytes, SafetensorsHeader header)
    : path_(std::move(path)), bytes_(std::move(bytes)), header_(std::move(header)) {
  for (size_t i = 0; i < header_.tensors.size(); ++i)
    byName_.emplace(header_.tensors[i].name, i);
}

Expected<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                const SafetensorsReadOptions &options) {
  Expected<FileBytes> bytes = FileBytes::open(path, options.mode);
  if (!bytes)
    return bytes.status();
  Expected<SafetensorsHeader> header =
      parseSafetensorsHeader(bytes->data(), bytes->size(), options);
  if (!header)
    return errorf("'", path, "': ", header.status().message());
  return SafetensorsFile(path, bytes.take(), header.take());
}

Expected<SafetensorsFile> SafetensorsFile::fromBytes(std::vector<uint8_t> bytes,
                                                     const SafetensorsReadOptions &options,
                                                     std::string sourceName) {
  Expected<SafetensorsHeader> header = parseSafetensorsHeader(bytes.data(), bytes.size(), options);
  if (!header)
    return errorf("'", sourceName, "': ", header.status().message());
  return SafetensorsFile(std::move(sourceName), FileBytes::fromVector(std::move(bytes)),
                         header.take());
}

const SafetensorsTensorInfo *SafetensorsFile::find(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? nullptr : &header_.tensors[it->second];
}

const SafetensorsTensorInfo *SafetensorsFile::require(std::string_view name, Status &status) const {
  const SafetensorsTensorInfo *info = find(name);
  if (!info)
    status = errorf("'", path_, "': no tensor named ", quoted(name));
  return info;
}

Expected<ByteSpan> SafetensorsFile::bytes(std::string_view name) const {
  Status status;
  const SafetensorsTensorInfo *info = require(name, status);
  if (!info)
    return status;
  return ByteSpan{bytes_.data() + header_.dataStart + info->begin,
                  static_cast<size_t>(info->byteSize())};
}

Status SafetensorsFile::readF32(std::string_view name, float *out, size_t count) const {
  Status status;
  const SafetensorsTensorInfo *info = require(name, status);
  if (!info)
    return status;
  if (!isSafetensorsFloat(info->dtype))
    return errorf("'", path_, "': tensor ", quoted(name), " is ", safetensorsDTypeName(info->dtype),
                  ", which does not convert to f32");
  if (info->numElements() != count)
    return errorf("'", path_, "': tensor ", quoted(name), " has ", info->numElements(),
                  " elements but the destination holds ", count);
  convertFloatsToF32(info->dtype, bytes_.data() + header_.dataStart + info->begin, count, out);
  return Status::ok();
}

Expected<std::vector<float>> SafetensorsFile::readF32(std::string_view name) const {
  const SafetensorsTensorInfo *info = find(name);
  std::vector<float> values(info && isSafetensorsFloat(info->dtype) ? info->numElements() : 0);
  DS_RETURN_IF_ERROR(readF32(name, values.data(), values.size()));
  return values;
}

} // namespace ds::rt
