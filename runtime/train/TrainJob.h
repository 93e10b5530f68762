//===- TrainJob.h - the training loop over a plan -------------------------===//
//
// Binds the step's inputs and outputs by their names (docs/ir-conventions.md): before each
// step it writes `tokens` ([B, S+1+M] i32 windows of the data), `lr` and `step` (f32
// scalars, step 1-based); after it, it reads `loss`, every `loss.<part>`, `grad_norm` and
// every `expert_counts.<L>` into one StepMetrics, written as a metrics line.
//
// Checkpoints (Checkpoint.h): with a checkpoint folder the job writes one every `every`
// steps and after the last step it runs. A job created with `resumeFrom` loads weights,
// optimizer state and the step from a checkpoint instead of initialising, after checking
// that this run is the one the checkpoint belongs to (CheckpointState.h), and continues at
// the next step. Nothing else carries over: the data windows depend only on (seed, step)
// and the learning rate only on the schedule and the step, so a run stopped at step k and
// resumed computes the same numbers, bit for bit, as one that never stopped.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_TRAINJOB_H
#define DS_RUNTIME_TRAIN_TRAINJOB_H

#include "runtime/core/Executor.h"
#include "runtime/train/CheckpointState.h"
#include "runtime/train/LrSchedule.h"
#include "runtime/train/Metrics.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ds::rt {

/// A step that runs on an accelerator instead of the host arena (runtime/train/CudaDevice.h
/// is the CUDA one). The host executor stays the home of the state the job initialises,
/// checkpoints and reads metrics from; the device mirrors the arena and copies across only
/// what the job reads or writes, so this library never depends on a device runtime.
class StepDevice {
public:
  virtual ~StepDevice() = default;
  /// Called once the host state is initialised (or loaded from a checkpoint): checks the
  /// device has room for the plan, builds the launches and copies the whole arena over.
  virtual Status attach(const Executor &host) = 0;
  /// One step: buffers `inputs` host to device, every launch and update on the device,
  /// then buffers `outputs` device to host.
  virtual Status runStep(Executor &host, const std::vector<int32_t> &inputs,
                         const std::vector<int32_t> &outputs) = 0;
  /// Copies the persistent buffers (parameters, model buffers, optimizer state) back to
  /// the host, before a checkpoint is written from it.
  virtual Status download(Executor &host) = 0;
};

struct TrainOptions {
  /// schedule.total is the number of steps to run.
  LrSchedule schedule;
  /// Seeds both the parameter initialisation and the data windows.
  uint64_t seed = 0;
  /// When non-empty, one JSON line per step goes there (appended to on resume:
  /// CheckpointMetricsLog.h).
  std::string metricsPath;
  /// Names the plan in checkpoints and their error messages (e.g. the .dsplan path).
  std::string planName = "the plan";

  /// When non-empty, checkpoints go to this root folder.
  std::string checkpointDir;
  /// A checkpoint after every `checkpointEvery`-th step (0: only after the last step).
  int64_t checkpointEvery = 0;
  /// How many of the newest checkpoints the root keeps.
  int64_t keepCheckpoints = 2;
  /// When non-empty, a checkpoint root (its latest) or step folder to continue from.
  std::string resumeFrom;
  /// When positive, the run stops after this step of the schedule (<= schedule.total).
  int64_t stopAfter = 0;
  /// Asked after every step; when it returns true the run checkpoints and stops early
  /// (how ds-train honours SIGTERM and SIGINT).
  std::function<bool()> stopRequested;
  /// When set, steps run on this device (attached after initialisation or resume).
  std::shared_ptr<StepDevice> device;
};

class TrainJob {
public:
  /// Checks the plan's bindings and the data (ids inside the vocabulary, at least one
  /// window of tokens), builds the executor and initialises a fresh run from the seed, or
  /// loads the checkpoint of options.resumeFrom. `dataName` names the data in error
  /// messages. A fresh run refuses a checkpoint folder that already holds checkpoints, and
  /// a resumed one a folder holding checkpoints past the step it resumes from, rather than
  /// mixing two runs' checkpoints in one folder.
  static Expected<TrainJob> create(Plan plan, std::vector<int32_t> tokens,
                                   const std::string &dataName, const TrainOptions &options,
                                   const KernelResolver &resolve);

  /// Runs the remaining steps, calling `onStep` after each one and `onCheckpoint` with the
  /// folder of each checkpoint written. Stops at the first failing step, or when the loss
  /// is not finite (after writing that step's metrics; no checkpoint of a diverged state
  /// is written).
  Status run(const std::function<void(const StepMetrics &)> &onStep,
             const std::function<void(const std::string &)> &onCheckpoint = nullptr);

  Executor &executor() { return executor_; }
  /// Steps completed so far: the resumed step before run(), the last step after it.
  int64_t completedSteps() const { return completed_; }
  /// True when run() ended early because stopRequested said so.
  bool stoppedByRequest() const { return stoppedByRequest_; }

private:
  TrainJob(Executor executor, std::vector<int32_t> tokens, TrainOptions options)
      : executor_(std::move(executor)), tokens_(std::move(tokens)), options_(std::move(options)) {}

  Status bind();
  Status start(const std::string &dataName);
  Status step(int64_t step, StepMetrics &metrics);

  Executor executor_;
  std::vector<int32_t> tokens_;
  TrainOptions options_;
  RunConfig config_;
  int64_t completed_ = 0;
  bool stoppedByRequest_ = false;
  int32_t tokensInput_ = -1, lrInput_ = -1, stepInput_ = -1, lossOutput_ = -1, gradNormOutput_ = -1;
  std::vector<std::pair<std::string, int32_t>> lossParts_;
  std::vector<std::pair<int64_t, int32_t>> expertCounts_;
  std::vector<int32_t> inputs_, outputs_;
};

} // namespace ds::rt

#endif
