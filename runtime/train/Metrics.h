//===- Metrics.h - one JSON line per training step ------------------------===//
//
// A line holds, in this order: step, loss, every other "loss.<part>" output as
// "loss_<part>" (dots become underscores: loss_main, loss_mtp_1, loss_balance), lr,
// grad_norm, expert_load ({"<layer>": [tokens per expert]}), expert_load_max_over_mean
// ({"<layer>": max/mean}), and last the timing keys tokens_per_s and step_s. Everything
// but the timing keys is a function of the plan, the data and the seed, so two runs with
// one seed agree on every line once the timing keys are dropped. CheckpointMetricsLog.h
// writes the lines to the --metrics file.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_METRICS_H
#define DS_RUNTIME_TRAIN_METRICS_H

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ds::rt {

/// Keys of a metrics line that depend on timing and so differ between identical runs.
inline const char *const kTimingMetricKeys[] = {"tokens_per_s", "step_s"};

struct StepMetrics {
  int64_t step = 0;
  double loss = 0;
  /// ("loss_main", value), ... in the plan's output order.
  std::vector<std::pair<std::string, double>> lossParts;
  double lr = 0;
  bool hasGradNorm = false;
  double gradNorm = 0;
  /// Tokens per expert, by MoE layer index (the <L> of "expert_counts.<L>").
  std::map<int64_t, std::vector<int64_t>> expertLoad;
  double tokensPerSecond = 0;
  double stepSeconds = 0;

  /// max(count) / mean(count) of one layer; 0 when no token was routed.
  static double maxOverMean(const std::vector<int64_t> &counts);
  /// The JSON line, without the newline.
  std::string toJson() const;
};

} // namespace ds::rt

#endif
