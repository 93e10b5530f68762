//===- Safetensors.h - read and write safetensors checkpoints -------------===//
//
// Format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
// UTF-8 JSON
//   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<value>", ...}}
// then the data section; offsets are relative to its start and end is exclusive.
//
// Reading validates the whole header before any tensor byte is touched: N against the
// file size and a cap, the JSON, every field of every tensor (known dtype, non-negative
// integer shape whose byte size matches its offsets without overflow, offsets inside
// the data section), that no two tensors share a byte, and by default that the tensors
// cover the data section exactly, as the reference implementation requires. A truncated
// or hostile file yields an error that names the tensor and field, never a crash or a
// read out of bounds. A SafetensorsFile is immutable once open and safe to read from
// several threads.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_IO_SAFETENSORS_H
#define DS_RUNTIME_IO_SAFETENSORS_H

#include "runtime/core/Status.h"
#include "runtime/io/FileBytes.h"
#include "runtime/io/SafetensorsDType.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ds::rt {

/// The reference implementation's cap on N; real headers are a few MB at most.
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

struct SafetensorsReadOptions {
  FileBytes::Mode mode = FileBytes::Mode::Mmap;
  uint64_t maxHeaderBytes = kSafetensorsMaxHeaderBytes;
  /// Reject files whose data section has bytes no tensor owns (a gap or trailing junk).
  bool requireFullCoverage = true;
};

struct SafetensorsTensorInfo {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  std::vector<int64_t> shape;
  /// Byte range [begin, end) relative to the start of the data section.
  uint64_t begin = 0;
  uint64_t end = 0;

  uint64_t numElements() const;
  uint64_t byteSize() const { return end - begin; }
};

/// What the header says, checked against a file of `fileSize` bytes.
struct SafetensorsHeader {
  std::vector<SafetensorsTensorInfo> tensors; // in header order
  std::map<std::string, std::string> metadata;
  uint64_t dataStart = 0; // file offset of the data section: 8 + N
};

/// Validates the header of the safetensors bytes at [data, data + size). Never reads
/// outside that range; touches only the length field and the header.
Expected<SafetensorsHeader> parseSafetensorsHeader(const uint8_t *data, size_t size,
                                                   const SafetensorsReadOptions &options = {});

class SafetensorsFile {
public:
  static Expected<SafetensorsFile> open(const std::string &path,
                                        const SafetensorsReadOptions &options = {});
  /// Parses bytes already in memory; `sourceName` stands in for the path in errors.
  static Expected<SafetensorsFile> fromBytes(std::vector<uint8_t> bytes,
                                             const SafetensorsReadOptions &options = {},
                                             std::string sourceName = "<memory>");

  const std::string &path() const { return path_; }
  const std::vector<SafetensorsTensorInfo> &tensors() const { return header_.tensors; }
  const std::map<std::string, std::string> &metadata() const { return header_.metadata; }
  /// The tensor named `name`, or null.
  const SafetensorsTensorInfo *find(std::string_view name) const;

  /// The tensor's raw little-endian bytes, valid while this object lives.
  Expected<ByteSpan> bytes(std::string_view name) const;
  /// The tensor's elements widened to f32; an error for non-float dtypes.
  Expected<std::vector<float>> readF32(std::string_view name) const;
  /// Like readF32 but into a caller buffer of exactly `count` floats (e.g. an arena).
  Status readF32(std::string_view name, float *out, size_t count) const;

private:
  SafetensorsFile(std::string path, FileBytes bytes, SafetensorsHeader header);
  const SafetensorsTensorInfo *require(std::string_view name, Status &status) const;

  std::string path_;
  FileBytes bytes_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, size_t> byName_; // index into header_.tensors
};

/// One tensor to write; `data` points at `size` bytes the caller keeps alive.
struct SafetensorsTensorRef {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
  size_t size = 0;
};

/// Encodes tensors and metadata as a safetensors image in memory.
Expected<std::vector<uint8_t>>
encodeSafetensors(const std::vector<SafetensorsTensorRef> &tensors,
                  const std::map<std::string, std::string> &metadata = {});

/// Writes the same image to `path` atomically (AtomicFile: temp file, fsync, rename,
/// folder fsync), streaming tensor data without copying it.
Status writeSafetensors(const std::string &path, const std::vector<SafetensorsTensorRef> &tensors,
                        const std::map<std::string, std::string> &metadata = {});

} // namespace ds::rt

#endif
