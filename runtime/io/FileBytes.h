//===- FileBytes.h - a file's bytes, read into memory or memory-mapped ----===//
//
// Checkpoint shards are large (a 671B model is ~700 GB in 163 files), so the default is
// to map them and let the page cache bring in only the tensors that are read. Mapping
// has one hazard reading does not: if another process truncates the file while it is
// mapped, touching the lost pages raises SIGBUS. Use Mode::Read where files may change
// underneath the reader.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_IO_FILEBYTES_H
#define DS_RUNTIME_IO_FILEBYTES_H

#include "runtime/core/Status.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

/// A read-only view of contiguous bytes.
struct ByteSpan {
  const uint8_t *data = nullptr;
  size_t size = 0;
};

class FileBytes {
public:
  enum class Mode : uint8_t { Mmap, Read };

  /// Opens a regular file. Errors name the path and the system's reason.
  static Expected<FileBytes> open(const std::string &path, Mode mode);
  /// Owns bytes that are already in memory (tests, fuzzing, data from elsewhere).
  static FileBytes fromVector(std::vector<uint8_t> bytes);

  FileBytes() = default;
  FileBytes(FileBytes &&other) noexcept;
  FileBytes &operator=(FileBytes &&other) noexcept;
  FileBytes(const FileBytes &) = delete;
  FileBytes &operator=(const FileBytes &) = delete;
  ~FileBytes();

  const uint8_t *data() const { return mapped_ ? mapped_ : owned_.data(); }
  size_t size() const { return mapped_ ? mappedSize_ : owned_.size(); }
  ByteSpan span() const { return {data(), size()}; }

private:
  void release();

  std::vector<uint8_t> owned_;
  const uint8_t *mapped_ = nullptr;
  size_t mappedSize_ = 0;
};

} // namespace ds::rt

#endif
