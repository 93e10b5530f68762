#include "runtime/train/TrainJob.h"

#include "runtime/train/Checkpoint.h"
#include "runtime/train/CheckpointMetricsLog.h"
#include "runtime/train/Initialize.h"
#include "runtime/train/TokenData.h"

#include <chrono>
#include <cmath>

namespace ds::rt {

namespace {

bool startsWith(const std::string &text, const std::string &prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

Status expectBuffer(const Plan &plan, int32_t id, const char *what, DType dtype,
                    const std::vector<int64_t> &shape) {
  if (id < 0)
    return errorf("the plan has no ", what, "; was it compiled by ds-compile for training?");
  const PlanBuffer &buffer = plan.buffers[id];
  if (buffer.dtype != dtype || buffer.shape != shape) {
    TensorView expected{nullptr, dtype, shape}, found{nullptr, buffer.dtype, buffer.shape};
    return errorf("the plan's ", what, " is ", found.shapeString(), "; training expects ",
                  expected.shapeString());
  }
  return Status::ok();
}

} // namespace

Status TrainJob::bind() {
  const Plan &plan = executor_.plan();
  int64_t window = plan.seq + 1 + plan.mtpDepth;
  tokensInput_ = plan.findBuffer(BufferRole::Input, "tokens");
  DS_RETURN_IF_ERROR(
      expectBuffer(plan, tokensInput_, "input 'tokens'", DType::I32, {plan.batch, window}));
  lrInput_ = plan.findBuffer(BufferRole::Input, "lr");
  DS_RETURN_IF_ERROR(expectBuffer(plan, lrInput_, "input 'lr'", DType::F32, {}));
  stepInput_ = plan.findBuffer(BufferRole::Input, "step");
  DS_RETURN_IF_ERROR(expectBuffer(plan, stepInput_, "input 'step'", DType::F32, {}));
  lossOutput_ = plan.findBuffer(BufferRole::Output, "loss");
  DS_RETURN_IF_ERROR(expectBuffer(plan, lossOutput_, "output 'loss'", DType::F32, {}));
  gradNormOutput_ = plan.findBuffer(BufferRole::Output, "grad_norm");
  if (gradNormOutput_ >= 0)
    DS_RETURN_IF_ERROR(expectBuffer(plan, gradNormOutput_, "output 'grad_norm'", DType::F32, {}));

  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &buffer = plan.buffers[i];
    int32_t id = static_cast<int32_t>(i);
    if (buffer.role != BufferRole::Output)
      continue;
    if (startsWith(buffer.name, "loss.")) {
      std::string what = "output '" + buffer.name + "'";
      DS_RETURN_IF_ERROR(expectBuffer(plan, id, what.c_str(), DType::F32, {}));
      std::string key = buffer.name;
      for (char &c : key)
        c = c == '.' ? '_' : c;
      lossParts_.emplace_back(key, id);
    } else if (startsWith(buffer.name, "expert_counts.")) {
      std::string layer = buffer.name.substr(14);
      if (layer.empty() || layer.size() > 9 ||
          layer.find_first_not_of("0123456789") != std::string::npos)
        return errorf("the plan's output '", buffer.name, "' does not end in a layer number");
      if (buffer.dtype != DType::I32 || buffer.shape.size() != 1)
        return errorf("the plan's output '", buffer.name, "' is not a vector of i32 counts");
      expertCounts_.emplace_back(std::stoll(layer), id);
    }
  }
  // What a device step must copy across: the inputs written and the outputs read here.
  inputs_ = {tokensInput_, lrInput_, stepInput_};
  outputs_ = {lossOutput_};
  if (gradNormOutput_ >= 0)
    outputs_.push_back(gradNormOutput_);
  for (const auto &part : lossParts_)
    outputs_.push_back(part.second);
  for (const auto &counts : expertCounts_)
    outputs_.push_back(counts.second);
  return Status::ok();
}

Expected<TrainJob> TrainJob::create(Plan plan, std::vector<int32_t> tokens,
                                    const std::string &dataName, const TrainOptions &options,
                                    const KernelResolver &resolve) {
  DS_RETURN_IF_ERROR(options.schedule.validate());
  DS_RETURN_IF_ERROR(checkVocabulary(tokens, plan.vocabSize, dataName));
  int64_t window = plan.seq + 1 + plan.mtpDepth;
  if (static_cast<int64_t>(tokens.size()) < window)
    return errorf(dataName, ": ", tokens.size(), " tokens are fewer than one training window ",
                  "of ", window, " (seq ", plan.seq, " + 1 + mtp depth ", plan.mtpDepth, ")");
  Expected<Executor> executor = Executor::create(std::move(plan), resolve);
  if (!executor)
    return executor.status();
  TrainJob job(executor.take(), std::move(tokens), options);
  DS_RETURN_IF_ERROR(job.bind());
  DS_RETURN_IF_ERROR(job.start(dataName));
  return job;
}

Status TrainJob::start(const std::string &dataName) {
  const TrainOptions &o = options_;
  if (o.stopAfter < 0 || o.stopAfter > o.schedule.total)
    return errorf("--stop-after ", o.stopAfter, " must lie in 1..", o.schedule.total,
                  " (the run's --steps)");
  if (o.checkpointEvery < 0)
    return errorf("--checkpoint-every ", o.checkpointEvery, " must not be negative");
  if (o.keepCheckpoints < 1)
    return errorf("--keep-checkpoints ", o.keepCheckpoints, " must be at least 1");
  config_ = describeRun(executor_.plan(), o.planName, tokens_, dataName, o.seed, o.schedule);

  if (o.resumeFrom.empty()) {
    DS_RETURN_IF_ERROR(initializeState(executor_, o.seed));
  } else {
    Expected<CheckpointLocation> location = locateCheckpoint(o.resumeFrom);
    if (!location)
      return location.status();
    Expected<TrainerState> state = readTrainerState(location->folder);
    if (!state)
      return state.status();
    DS_RETURN_IF_ERROR(checkResumable(state->config, config_, "checkpoint " + location->folder));
    DS_RETURN_IF_ERROR(loadCheckpointTensors(location->folder, executor_));
    completed_ = state->step;
    if (o.stopAfter > 0 && o.stopAfter <= completed_)
      return errorf("--stop-after ", o.stopAfter, " is not past step ", completed_,
                    ", where checkpoint ", location->folder, " resumes");
  }

  if (o.device)
    DS_RETURN_IF_ERROR(o.device->attach(executor_));
  if (o.checkpointDir.empty())
    return Status::ok();
  Expected<std::vector<std::pair<int64_t, std::string>>> existing =
      listCheckpoints(o.checkpointDir);
  if (!existing)
    return existing.status();
  if (existing->empty() || existing->back().first <= completed_)
    return Status::ok();
  std::string newest = checkpointFolderName(existing->back().first);
  if (completed_ == 0)
    return errorf("checkpoint folder '", o.checkpointDir, "' already holds checkpoints (newest ",
                  newest, "); continue that run with --resume, or choose another ",
                  "--checkpoint-dir");
  return errorf("checkpoint folder '", o.checkpointDir, "' holds checkpoints past step ",
                completed_, " (newest ", newest, "), which this run would mix with its own; ",
                "resume from the newest, or write to another --checkpoint-dir");
}

Status TrainJob::step(int64_t step, StepMetrics &metrics) {
  const Plan &plan = executor_.plan();
  const TensorView &tokens = executor_.view(tokensInput_);
  DS_RETURN_IF_ERROR(
      fillWindows(tokens_, plan.batch, tokens.dim(1), options_.seed, step, tokens.as<int32_t>()));
  double lr = options_.schedule.at(step);
  *executor_.view(lrInput_).as<float>() = static_cast<float>(lr);
  *executor_.view(stepInput_).as<float>() = static_cast<float>(step);

  auto start = std::chrono::steady_clock::now();
  Status status = options_.device ? options_.device->runStep(executor_, inputs_, outputs_)
                                  : executor_.run();
  if (!status)
    return errorf("step ", step, ": ", status.message());
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  metrics.step = step;
  metrics.lr = lr;
  metrics.loss = *executor_.view(lossOutput_).as<float>();
  for (const auto &[key, id] : lossParts_)
    metrics.lossParts.emplace_back(key, *executor_.view(id).as<float>());
  metrics.hasGradNorm = gradNormOutput_ >= 0;
  if (metrics.hasGradNorm)
    metrics.gradNorm = *executor_.view(gradNormOutput_).as<float>();
  for (const auto &[layer, id] : expertCounts_) {
    const TensorView &counts = executor_.view(id);
    std::vector<int64_t> &load = metrics.expertLoad[layer];
    load.assign(counts.as<int32_t>(), counts.as<int32_t>() + counts.numElements());
  }
  metrics.stepSeconds = elapsed.count();
  metrics.tokensPerSecond =
      metrics.stepSeconds > 0 ? static_cast<double>(plan.batch * plan.seq) / elapsed.count() : 0;
  return Status::ok();
}

Status TrainJob::run(const std::function<void(const StepMetrics &)> &onStep,
                     const std::function<void(const std::string &)> &onCheckpoint) {
  const TrainOptions &o = options_;
  ResumableMetricsLog log;
  if (!o.metricsPath.empty())
    DS_RETURN_IF_ERROR(log.open(o.metricsPath, completed_));
  int64_t last = o.stopAfter > 0 ? o.stopAfter : o.schedule.total;
  for (int64_t t = completed_ + 1; t <= last; ++t) {
    StepMetrics metrics;
    DS_RETURN_IF_ERROR(step(t, metrics));
    if (log.isOpen())
      DS_RETURN_IF_ERROR(log.write(metrics));
    if (onStep)
      onStep(metrics);
    if (!std::isfinite(metrics.loss))
      return errorf("step ", t, ": the loss is not finite (", metrics.loss,
                    "); the run diverged, try a lower --lr or a longer --warmup");
    completed_ = t;
    bool stop = t < last && o.stopRequested && o.stopRequested();
    bool due = t == last || stop || (o.checkpointEvery > 0 && t % o.checkpointEvery == 0);
    if (due && !o.checkpointDir.empty()) {
      if (o.device)
        DS_RETURN_IF_ERROR(o.device->download(executor_));
      Expected<std::string> folder =
          writeCheckpoint(o.checkpointDir, executor_, {t, config_}, o.keepCheckpoints);
      if (!folder)
        return errorf("step ", t, ": ", folder.status().message());
      if (onCheckpoint)
        onCheckpoint(*folder);
    }
    if (stop) {
      stoppedByRequest_ = true;
      break;
    }
  }
  return log.close();
}

} // namespace ds::rt
