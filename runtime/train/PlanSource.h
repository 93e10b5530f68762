//===- PlanSource.h - the plan a training run starts from -----------------===//
//
// `ds-train` accepts either a compiled plan (.dsplan) or a model spec (.json). A spec is
// compiled by running the `ds-compile` found next to `ds-train` (the runtime never links
// the compiler, DESIGN.md "The flow") into a temporary plan that is read and removed.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_PLANSOURCE_H
#define DS_RUNTIME_TRAIN_PLANSOURCE_H

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ds::rt {

struct PlanRequest {
  /// A .dsplan file or a model spec (.json).
  std::string path;
  /// Batch and sequence length asked for on the command line; 0 when not given. A spec
  /// is compiled with them (or the defaults below); a plan must have been compiled with
  /// them.
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t defaultBatch = 4;
  int64_t defaultSeq = 64;
  /// The folder holding ds-compile.
  std::string toolDir;
  /// More ds-compile arguments for a spec (e.g. `--mode eval` for an evaluation plan).
  std::vector<std::string> compileArgs;
};

/// Loads, compiles if needed, and verifies (kernels against the CPU registry) the plan.
Expected<Plan> loadTrainingPlan(const PlanRequest &request);

/// The folder of the running executable, from /proc/self/exe.
Expected<std::string> executableDir();

} // namespace ds::rt

#endif
