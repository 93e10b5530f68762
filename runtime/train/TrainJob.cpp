#include "runtime/train/TrainJob.h"

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
  DS_RETURN_IF_ERROR(initializeState(job.executor_, options.seed));
  return job;
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
  Status status = executor_.run();
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

Status TrainJob::run(const std::function<void(const StepMetrics &)> &onStep) {
  MetricsWriter writer;
  if (!options_.metricsPath.empty())
    DS_RETURN_IF_ERROR(writer.open(options_.metricsPath));
  for (int64_t t = 1; t <= options_.schedule.total; ++t) {
    StepMetrics metrics;
    DS_RETURN_IF_ERROR(step(t, metrics));
    if (writer.isOpen())
      DS_RETURN_IF_ERROR(writer.write(metrics));
    if (onStep)
      onStep(metrics);
    if (!std::isfinite(metrics.loss))
      return errorf("step ", t, ": the loss is not finite (", metrics.loss,
                    "); the run diverged, try a lower --lr or a longer --warmup");
  }
  return writer.close();
}

} // namespace ds::rt
