#include "runtime/train/LrSchedule.h"

#include <algorithm>
#include <cmath>

namespace ds::rt {

Status LrSchedule::validate() const {
  if (!(peak > 0) || !std::isfinite(peak))
    return errorf("--lr ", peak, " must be a positive number");
  if (warmup < 0)
    return errorf("--warmup ", warmup, " must not be negative");
  if (total <= 0)
    return errorf("--steps ", total, " must be positive");
  if (!(minRatio >= 0 && minRatio <= 1))
    return errorf("--min-lr-ratio ", minRatio, " must lie in [0, 1]");
  return Status::ok();
}

double LrSchedule::at(int64_t step) const {
  if (step <= warmup)
    return peak * static_cast<double>(step) / static_cast<double>(warmup);
  int64_t decaySteps = total - warmup;
  if (decaySteps <= 0)
    return peak;
  double progress =
      std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(decaySteps));
  constexpr double kPi = 3.14159265358979323846;
  double cosine = 0.5 * (1.0 + std::cos(kPi * progress));
  return peak * (minRatio + (1.0 - minRatio) * cosine);
}

} // namespace ds::rt
