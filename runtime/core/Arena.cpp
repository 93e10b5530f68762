#include "runtime/core/Arena.h"

#include <cstdlib>
#include <utility>

namespace ds::rt {

Expected<Arena> Arena::allocate(int64_t bytes) {
  if (bytes < 0)
    return errorf("arena size ", bytes, " is negative");
  Arena arena;
  arena.size_ = bytes;
  if (bytes == 0)
    return arena;
  arena.block_ = std::calloc(static_cast<size_t>(bytes) + kAlignment, 1);
  if (!arena.block_)
    return errorf("cannot allocate an arena of ", bytes, " bytes");
  auto address = reinterpret_cast<uintptr_t>(arena.block_);
  arena.data_ = reinterpret_cast<uint8_t *>((address + kAlignment - 1) / kAlignment * kAlignment);
  return arena;
}

Arena::Arena(Arena &&other) noexcept
    : block_(std::exchange(other.block_, nullptr)), data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

Arena &Arena::operator=(Arena &&other) noexcept {
  if (this != &other) {
    std::free(block_);
    block_ = std::exchange(other.block_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Arena::~Arena() { std::free(block_); }

} // namespace ds::rt
