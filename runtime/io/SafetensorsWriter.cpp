//===- SafetensorsWriter.cpp - safetensors encoding and atomic writes -----===//
#include "runtime/io/AtomicFile.h"
#include "runtime/io/Json.h"
#include "runtime/io/Safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace ds::rt {

namespace {

/// The header and the order in which tensor data follows it.
struct Layout {
  std::string header; // padded JSON, N = header.size()
  std::vector<size_t> order;
  uint64_t dataBytes = 0;
};

Status checkTensor(const SafetensorsTensorRef &tensor) {
  std::string name;
  appendJsonString(name, tensor.name);
  if (tensor.name.empty())
    return errorf("cannot write a tensor with an empty name");
  if (tensor.name == "__metadata__")
    return errorf("cannot write a tensor named \"__metadata__\": the format reserves it");
  if (!isValidUtf8(tensor.name))
    return errorf("cannot write tensor ", name, ": its name is not valid UTF-8");
  uint64_t needed = safetensorsDTypeSize(tensor.dtype);
  bool overflow = false;
  for (int64_t dim : tensor.shape) {
    if (dim < 0)
      return errorf("cannot write tensor ", name, ": shape has the negative dimension ", dim);
    overflow = overflow || __builtin_mul_overflow(needed, static_cast<uint64_t>(dim), &needed);
  }
  if (std::find(tensor.shape.begin(), tensor.shape.end(), 0) != tensor.shape.end())
    needed = 0;
  else if (overflow)
    return errorf("cannot write tensor ", name, ": its shape is larger than 2^64 bytes");
  if (needed != tensor.size)
    return errorf("cannot write tensor ", name, ": shape and dtype ",
                  safetensorsDTypeName(tensor.dtype), " need ", needed, " bytes but ", tensor.size,
                  " were given");
  if (tensor.size > 0 && !tensor.data)
    return errorf("cannot write tensor ", name, ": data is null");
  return Status::ok();
}

Expected<Layout> planLayout(const std::vector<SafetensorsTensorRef> &tensors,
                            const std::map<std::string, std::string> &metadata) {
  std::set<std::string_view> names;
  for (const SafetensorsTensorRef &tensor : tensors) {
    DS_RETURN_IF_ERROR(checkTensor(tensor));
    if (!names.insert(tensor.name).second)
      return errorf("cannot write two tensors named \"", tensor.name, "\"");
  }
  for (const auto &[key, value] : metadata)
    if (!isValidUtf8(key) || !isValidUtf8(value))
      return errorf("cannot write metadata entry \"", key, "\": it is not valid UTF-8");

  // Largest elements first: every tensor's bytes are a multiple of its element size, so
  // each tensor then starts at a multiple of its own element size (like the reference
  // writer), and a mapped tensor can be read in place.
  Layout layout;
  layout.order.resize(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i)
    layout.order[i] = i;
  std::sort(layout.order.begin(), layout.order.end(), [&](size_t a, size_t b) {
    size_t sizeA = safetensorsDTypeSize(tensors[a].dtype);
    size_t sizeB = safetensorsDTypeSize(tensors[b].dtype);
    return sizeA != sizeB ? sizeA > sizeB : a < b; // keep the caller's order otherwise
  });

  std::string &json = layout.header;
  json += '{';
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto &[key, value] : metadata) {
      json += first ? "" : ",";
      first = false;
      appendJsonString(json, key);
      json += ':';
      appendJsonString(json, value);
    }
    json += '}';
  }
  for (size_t index : layout.order) {
    const SafetensorsTensorRef &tensor = tensors[index];
    json += json.size() > 1 ? "," : "";
    appendJsonString(json, tensor.name);
    json += ":{\"dtype\":\"";
    json += safetensorsDTypeName(tensor.dtype);
    json += "\",\"shape\":[";
    for (size_t d = 0; d < tensor.shape.size(); ++d)
      json += (d ? "," : "") + std::to_string(tensor.shape[d]);
    uint64_t begin = layout.dataBytes;
    if (__builtin_add_overflow(layout.dataBytes, tensor.size, &layout.dataBytes))
      return errorf("cannot write: the tensors total more than 2^64 bytes");
    json += "],\"data_offsets\":[" + std::to_string(begin) + "," +
            std::to_string(layout.dataBytes) + "]}";
  }
  json += '}';
  // Spaces are JSON whitespace; padding to 8 bytes aligns the data section for mmap.
  json.append((8 - json.size() % 8) % 8, ' ');
  if (json.size() > kSafetensorsMaxHeaderBytes)
    return errorf("cannot write: the header would be ", json.size(),
                  " bytes, more than readers accept (", kSafetensorsMaxHeaderBytes, ")");
  return layout;
}

void appendLength(std::string &out, uint64_t value) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((value >> (8 * i)) & 0xffu);
}

} // namespace

Expected<std::vector<uint8_t>>
encodeSafetensors(const std::vector<SafetensorsTensorRef> &tensors,
                  const std::map<std::string, std::string> &metadata) {
  Expected<Layout> layout = planLayout(tensors, metadata);
  if (!layout)
    return layout.status();
  std::string prefix;
  appendLength(prefix, layout->header.size());
  prefix += layout->header;
  std::vector<uint8_t> image(prefix.begin(), prefix.end());
  image.reserve(image.size() + layout->dataBytes);
  for (size_t index : layout->order) {
    const uint8_t *data = static_cast<const uint8_t *>(tensors[index].data);
    image.insert(image.end(), data, data + tensors[index].size);
  }
  return image;
}

Status writeSafetensors(const std::string &path, const std::vector<SafetensorsTensorRef> &tensors,
                        const std::map<std::string, std::string> &metadata) {
  Expected<Layout> layout = planLayout(tensors, metadata);
  if (!layout)
    return errorf("'", path, "': ", layout.status().message());
  Expected<AtomicFile> file = AtomicFile::create(path);
  if (!file)
    return file.status();
  std::string prefix;
  appendLength(prefix, layout->header.size());
  prefix += layout->header;
  DS_RETURN_IF_ERROR(file->write(prefix));
  for (size_t index : layout->order)
    if (tensors[index].size > 0)
      DS_RETURN_IF_ERROR(file->write(tensors[index].data, tensors[index].size));
  return file->commit();
}

} // namespace ds::rt
