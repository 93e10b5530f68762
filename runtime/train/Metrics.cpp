#include "runtime/train/Metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

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

MetricsWriter::~MetricsWriter() {
  if (file_)
    std::fclose(file_);
}

Status MetricsWriter::open(const std::string &path) {
  if (file_)
    return errorf("metrics file '", path_, "' is already open");
  file_ = std::fopen(path.c_str(), "w");
  if (!file_)
    return errorf(path, ": cannot write metrics: ", std::strerror(errno));
  path_ = path;
  return Status::ok();
}

Status MetricsWriter::write(const StepMetrics &metrics) {
  if (!file_)
    return Status::error("metrics file is not open");
  std::string line = metrics.toJson() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_))
    return errorf(path_, ": cannot write metrics: ", std::strerror(errno));
  return Status::ok();
}

Status MetricsWriter::close() {
  if (!file_)
    return Status::ok();
  bool ok = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok)
    return errorf(path_, ": cannot close metrics: ", std::strerror(errno));
  return Status::ok();
}

} // namespace ds::rt
