//===- Arena.h - one aligned host allocation holding every buffer of a plan ===//
//
// A plan places every tensor of a step at a fixed offset in one arena, so the runtime
// allocates once per device and a step does no allocation at all.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_CORE_ARENA_H
#define DS_RUNTIME_CORE_ARENA_H

#include "runtime/core/Status.h"

#include <cstddef>
#include <cstdint>

namespace ds::rt {

class Arena {
public:
  /// Alignment of the arena's base: every plan offset is a multiple of 64, so a buffer is
  /// aligned to this as well.
  static constexpr size_t kAlignment = 64;

  /// Allocates `bytes` zeroed bytes, or explains why not. The zeros come from calloc, so a
  /// large arena is zero pages the OS maps on first touch: memory a run never touches (on
  /// a GPU run, every temporary of the host twin) costs neither time nor RSS.
  static Expected<Arena> allocate(int64_t bytes);

  Arena() = default;
  Arena(Arena &&other) noexcept;
  Arena &operator=(Arena &&other) noexcept;
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  ~Arena();

  uint8_t *data() const { return data_; }
  int64_t size() const { return size_; }

private:
  void *block_ = nullptr; // what calloc returned; data_ is block_ rounded up to kAlignment
  uint8_t *data_ = nullptr;
  int64_t size_ = 0;
};

} // namespace ds::rt

#endif
