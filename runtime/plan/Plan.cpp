#include "runtime/plan/Plan.h"

namespace ds::rt {

namespace {
constexpr BufferRole kAllRoles[] = {BufferRole::Temporary, BufferRole::Input, BufferRole::Param,
                                    BufferRole::Buffer,    BufferRole::State, BufferRole::Output};
} // namespace

bool inPlaceOperands(const std::string &kernel, InPlaceOperands &pair) {
  if (kernel == "cross_entropy_grad") {
    pair = {0, 0};
    return true;
  }
  return false;
}

const char *bufferRoleName(BufferRole role) {
  switch (role) {
  case BufferRole::Temporary:
    return "temporary";
  case BufferRole::Input:
    return "input";
  case BufferRole::Param:
    return "param";
  case BufferRole::Buffer:
    return "buffer";
  case BufferRole::State:
    return "state";
  case BufferRole::Output:
    return "output";
  }
  return "?";
}

bool parseBufferRole(const std::string &name, BufferRole &role) {
  for (BufferRole candidate : kAllRoles) {
    if (name == bufferRoleName(candidate)) {
      role = candidate;
      return true;
    }
  }
  return false;
}

Status layoutPlanWithoutReuse(Plan &plan) {
  // Sizes are summed with an explicit bound so a shape typed by hand cannot wrap around.
  constexpr int64_t kLimit = int64_t(1) << 60;
  int64_t cursor = 0;
  for (int pass = 0; pass < 2; ++pass) {
    bool persistent = pass == 0;
    for (PlanBuffer &buffer : plan.buffers) {
      if (isPersistentRole(buffer.role) != persistent || buffer.viewOf >= 0)
        continue;
      int64_t elements = 1;
      for (int64_t d : buffer.shape) {
        if (d < 0 || (d != 0 && elements > kLimit / d))
          return errorf("buffer '", buffer.name, "' has an invalid or too large shape");
        elements *= d;
      }
      int64_t bytes = elements * dtypeSize(buffer.dtype);
      if (bytes > kLimit - cursor)
        return errorf("plan layout exceeds 2^60 bytes at buffer '", buffer.name, "'");
      buffer.offset = cursor;
      cursor = alignPlanOffset(cursor + bytes);
    }
    if (persistent)
      plan.persistentBytes = cursor;
  }
  plan.arenaBytes = cursor;
  for (PlanBuffer &buffer : plan.buffers) {
    if (buffer.viewOf < 0)
      continue;
    if (static_cast<size_t>(buffer.viewOf) >= plan.buffers.size())
      return errorf("buffer '", buffer.name, "' views buffer ", buffer.viewOf,
                    ", which does not exist");
    buffer.offset = plan.buffers[buffer.viewOf].offset;
  }
  return Status::ok();
}

} // namespace ds::rt
