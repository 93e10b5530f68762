//===- Metrics.h - one JSON line per training step ------------------------===//
//
// A line holds, in this order: step, loss, every other "loss.<part>" output as
// "loss_<part>" (dots become underscores: loss_main, loss_mtp_1, loss_balance), lr,
// grad_norm, expert_load ({"<layer>": [tokens per expert]}), expert_load_max_over_mean
// ({"<layer>": max/mean}), and last the timing keys tokens_per_s and step_s. Everything
// but the timing keys is a function of the plan, the data and the seed, so two runs with
// one seed agree on every line once the timing keys are dropped.
//
// The file is appended to and flushed after every step rather than written to a temporary
// and renamed: it is a log that plotting tools and people read while the run goes on.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_METRICS_H
#define DS_RUNTIME_TRAIN_METRICS_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <cstdio>
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

class MetricsWriter {
public:
  MetricsWriter() = default;
  MetricsWriter(const MetricsWriter &) = delete;
  MetricsWriter &operator=(const MetricsWriter &) = delete;
  ~MetricsWriter();

  /// Truncates or creates `path`.
  Status open(const std::string &path);
  bool isOpen() const { return file_ != nullptr; }
  Status write(const StepMetrics &metrics);
  Status close();

private:
  std::FILE *file_ = nullptr;
  std::string path_;
};

} // namespace ds::rt

#endif
