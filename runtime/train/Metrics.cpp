#include "runtime/train/Metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ds::rt {

namespace {

// JSON has no NaN or infinity; such a value is written as null (and ends the run).
std::string number(double value) {
  if (!std::isfinite(value))
    return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

} // namespace

double StepMetrics::maxOverMean(const std::vector<int64_t> &counts) {
  if (counts.empty())
    return 0;
  int64_t total = 0, most = 0;
  for (int64_t c : counts) {
    total += c;
    most = std::max(most, c);
  }
  if (total == 0)
    return 0;
  return static_cast<double>(most) * static_cast<double>(counts.size()) /
         static_cast<double>(total);
}

std::string StepMetrics::toJson() const {
  std::string line = "{\"step\":" + std::to_string(step) + ",\"loss\":" + number(loss);
  for (const auto &[key, value] : lossParts)
    line += ",\"" + key + "\":" + number(value);
  line += ",\"lr\":" + number(lr);
  if (hasGradNorm)
    line += ",\"grad_norm\":" + number(gradNorm);
  if (!expertLoad.empty()) {
    std::string load, ratio;
    for (const auto &[layer, counts] : expertLoad) {
      std::string key = "\"" + std::to_string(layer) + "\":";
      load += (load.empty() ? "" : ",") + key + "[";
      for (size_t i = 0; i < counts.size(); ++i)
        load += (i ? "," : "") + std::to_string(counts[i]);
      load += "]";
      ratio += (ratio.empty() ? "" : ",") + key + number(maxOverMean(counts));
    }
    line += ",\"expert_load\":{" + load + "},\"expert_load_max_over_mean\":{" + ratio + "}";
  }
  line += ",\"tokens_per_s\":" + number(tokensPerSecond) + ",\"step_s\":" + number(stepSeconds);
  return line + "}";
}

} // namespace ds::rt
