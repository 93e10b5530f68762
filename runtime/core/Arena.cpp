#include "runtime/core/Arena.h"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace ds::rt {

Expected<Arena> Arena::allocate(int64_t bytes) {
  if (bytes < 0)
    return errorf("arena size ", bytes, " is negative");
  Arena arena;
  arena.size_ = bytes;
  if (bytes == 0)
    return arena;
  // aligned_alloc needs a size that is a multiple of the alignment.
  size_t rounded = (static_cast<size_t>(bytes) + kAlignment - 1) / kAlignment * kAlignment;
  arena.data_ = static_cast<uint8_t *>(std::aligned_alloc(kAlignment, rounded));
  if (!arena.data_)
    return errorf("cannot allocate an arena of ", bytes, " bytes");
  std::memset(arena.data_, 0, rounded);
  return arena;
}

Arena::Arena(Arena &&other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Arena &Arena::operator=(Arena &&other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Arena::~Arena() { std::free(data_); }

} // namespace ds::rt
