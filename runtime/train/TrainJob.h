//===- TrainJob.h - the training loop over a plan -------------------------===//
//
// Binds the step's inputs and outputs by their names (docs/ir-conventions.md): before each
// step it writes `tokens` ([B, S+1+M] i32 windows of the data), `lr` and `step` (f32
// scalars, step 1-based); after it, it reads `loss`, every `loss.<part>`, `grad_norm` and
// every `expert_counts.<L>` into one StepMetrics, written as a metrics line.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_TRAINJOB_H
#define DS_RUNTIME_TRAIN_TRAINJOB_H

#include "runtime/core/Executor.h"
#include "runtime/train/LrSchedule.h"
#include "runtime/train/Metrics.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ds::rt {

struct TrainOptions {
  /// schedule.total is the number of steps to run.
  LrSchedule schedule;
  /// Seeds both the parameter initialisation and the data windows.
  uint64_t seed = 0;
  /// When non-empty, one JSON line per step goes there.
  std::string metricsPath;
};

class TrainJob {
public:
  /// Checks the plan's bindings and the data (ids inside the vocabulary, at least one
  /// window of tokens), builds the executor and initialises a fresh run from the seed.
  /// `dataName` names the data in error messages.
  static Expected<TrainJob> create(Plan plan, std::vector<int32_t> tokens,
                                   const std::string &dataName, const TrainOptions &options,
                                   const KernelResolver &resolve);

  /// Runs every step, calling `onStep` after each one. Stops at the first failing step, or
  /// when the loss is not finite (after writing that step's metrics).
  Status run(const std::function<void(const StepMetrics &)> &onStep);

  Executor &executor() { return executor_; }

private:
  TrainJob(Executor executor, std::vector<int32_t> tokens, TrainOptions options)
      : executor_(std::move(executor)), tokens_(std::move(tokens)), options_(std::move(options)) {}

  Status bind();
  Status step(int64_t step, StepMetrics &metrics);

  Executor executor_;
  std::vector<int32_t> tokens_;
  TrainOptions options_;
  int32_t tokensInput_ = -1, lrInput_ = -1, stepInput_ = -1, lossOutput_ = -1, gradNormOutput_ = -1;
  std::vector<std::pair<std::string, int32_t>> lossParts_;
  std::vector<std::pair<int64_t, int32_t>> expertCounts_;
};

} // namespace ds::rt

#endif
