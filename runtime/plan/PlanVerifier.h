//===- PlanVerifier.h - the checks a plan must pass before it is run ------===//
//
// Everything the executor relies on is checked here, once, so that running a plan never
// reads or writes outside the arena: dtypes, shapes (non-negative, sizes without overflow),
// offsets (aligned, inside the arena, persistent buffers inside [0, persistentBytes) and
// disjoint, temporaries above it and disjoint while both are live), launch buffer ids,
// kernel names, updates (same dtype and shape, persistent targets, each at most once).
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_PLAN_PLANVERIFIER_H
#define DS_RUNTIME_PLAN_PLANVERIFIER_H

#include "runtime/plan/Plan.h"

#include <functional>
#include <string>

namespace ds::rt {

struct PlanCheckOptions {
  /// When set, every launch's kernel must satisfy it (the runtime passes a lookup into
  /// its kernel registry; the compiler, which links no kernels, leaves it empty).
  std::function<bool(const std::string &kernel)> kernelExists;
};

/// The first problem found in `plan`, naming the buffer, launch or update and its field.
Status verifyPlan(const Plan &plan, const PlanCheckOptions &options = {});

} // namespace ds::rt

#endif
