//===- AtomicFile.h - write a file so readers see all of it or none -------===//
//
// Checkpoints, metrics and plans must survive a crash or a full disk mid-write: a reader
// (or a resumed job) sees either the old file or the complete new one, never a torn mix.
// AtomicFile writes to a fresh temporary file in the destination's folder (a rename is
// only atomic within one filesystem), and commit() fsyncs it, renames it over the
// destination and fsyncs the folder so that the rename itself is durable. An AtomicFile
// destroyed without commit() removes its temporary file and leaves the destination as
// it was.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_IO_ATOMICFILE_H
#define DS_RUNTIME_IO_ATOMICFILE_H

#include "runtime/core/Status.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace ds::rt {

class AtomicFile {
public:
  /// Creates the temporary file beside `path`. New files get mode 0666 minus the umask,
  /// as an ordinary open() would give them.
  static Expected<AtomicFile> create(const std::string &path);

  AtomicFile(AtomicFile &&other) noexcept;
  AtomicFile &operator=(AtomicFile &&other) noexcept;
  AtomicFile(const AtomicFile &) = delete;
  AtomicFile &operator=(const AtomicFile &) = delete;
  ~AtomicFile();

  /// Appends `size` bytes (unbuffered: callers should write large pieces).
  Status write(const void *data, size_t size);
  Status write(std::string_view bytes) { return write(bytes.data(), bytes.size()); }

  /// Makes the written bytes the content of the destination. After commit(), or after
  /// any error, the object is closed and further writes fail.
  Status commit();

  const std::string &path() const { return path_; }
  const std::string &temporaryPath() const { return tempPath_; }

private:
  AtomicFile(std::string path, std::string tempPath, int fd);
  void discard();

  std::string path_;
  std::string tempPath_;
  int fd_ = -1;
};

/// Writes `contents` to `path` atomically and durably (AtomicFile in one call).
Status writeFileAtomically(const std::string &path, std::string_view contents);

} // namespace ds::rt

#endif
