//===- LrSchedule.h - linear warmup, then cosine decay --------------------===//
//
// lr(t), t = 1..total: peak * t / warmup while t <= warmup; afterwards a half cosine from
// peak down to peak * minRatio, reached at t = total. (V3 report §4.2 uses warmup, a
// constant phase and cosine decay; short runs here need only warmup and decay.)
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_LRSCHEDULE_H
#define DS_RUNTIME_TRAIN_LRSCHEDULE_H

#include "runtime/core/Status.h"

#include <cstdint>

namespace ds::rt {

struct LrSchedule {
  double peak = 3e-3;
  int64_t warmup = 20;
  int64_t total = 200;
  double minRatio = 0.1;

  Status validate() const;
  /// The learning rate of step `step` (1-based).
  double at(int64_t step) const;
};

} // namespace ds::rt

#endif
