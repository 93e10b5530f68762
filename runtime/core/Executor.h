//===- Executor.h - runs a plan's launches over one arena -----------------===//
//
// The executor owns a plan and its arena, binds every buffer to a TensorView at its
// offset, resolves every kernel once, and runs a step as the plan's launches in order
// followed by its updates (the ds.update copies into persistent state).
//
// It is handed a plan that passed verifyPlan (runtime/plan/PlanVerifier.h). It re-checks
// only what its own memory safety rests on: buffer bytes inside the arena, launch and
// update ids in range, update sizes equal. Kernels come from a resolver so that the core
// library does not depend on a kernel backend and tests can supply their own kernels.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_CORE_EXECUTOR_H
#define DS_RUNTIME_CORE_EXECUTOR_H

#include "runtime/core/Arena.h"
#include "runtime/plan/Plan.h"

#include <functional>
#include <string>
#include <vector>

namespace ds::rt {

/// Returns the kernel for a kernel name, or nullptr when there is none.
using KernelResolver = std::function<KernelFn(const std::string &kernel)>;

class Executor {
public:
  /// Allocates the arena (zeroed), binds the buffers and resolves the kernels; the error
  /// names the first kernel the resolver does not know.
  static Expected<Executor> create(Plan plan, const KernelResolver &resolve);

  const Plan &plan() const { return plan_; }
  /// The view of buffer `id` (an index into plan().buffers) inside the arena.
  const TensorView &view(int32_t id) const { return views_[id]; }
  /// The buffer bound by `role` and `name`, or an error naming what is missing.
  Expected<TensorView> find(BufferRole role, const std::string &name) const;

  /// Runs one step: every launch in order, then every update. A failing kernel stops the
  /// step with its message prefixed by the launch index and kernel name.
  Status run();

private:
  Executor() = default;

  Plan plan_;
  Arena arena_;
  std::vector<TensorView> views_;
  std::vector<KernelFn> kernels_;
  std::vector<KernelCall> calls_;
};

} // namespace ds::rt

#endif
