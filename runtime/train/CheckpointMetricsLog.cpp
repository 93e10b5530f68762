#include "runtime/train/CheckpointMetricsLog.h"

#include "runtime/io/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace ds::rt {

namespace {

/// The step of a metrics line (Metrics.h: every line starts with {"step":N,), or -1.
int64_t stepOfLine(const std::string &line) {
  const std::string prefix = "{\"step\":";
  if (line.compare(0, prefix.size(), prefix) != 0)
    return -1;
  size_t end = line.find_first_not_of("0123456789", prefix.size());
  size_t digits = end == std::string::npos ? 0 : end - prefix.size();
  if (digits == 0 || digits > 18 || line[end] != ',')
    return -1;
  return std::stoll(line.substr(prefix.size(), digits));
}

} // namespace

std::string metricsLinesThrough(const std::string &text, int64_t step) {
  size_t kept = 0;
  while (kept < text.size()) {
    size_t newline = text.find('\n', kept);
    if (newline == std::string::npos)
      break;
    int64_t lineStep = stepOfLine(text.substr(kept, newline - kept));
    if (lineStep < 1 || lineStep > step)
      break;
    kept = newline + 1;
  }
  return text.substr(0, kept);
}

ResumableMetricsLog::~ResumableMetricsLog() {
  if (file_)
    std::fclose(file_);
}

Status ResumableMetricsLog::open(const std::string &path, int64_t resumedStep) {
  if (file_)
    return errorf("metrics file '", path_, "' is already open");
  if (resumedStep > 0) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad())
        return errorf(path, ": cannot read metrics: ", std::strerror(errno));
      std::string kept = metricsLinesThrough(text, resumedStep);
      if (kept.size() != text.size())
        DS_RETURN_IF_ERROR(writeFileAtomically(path, kept));
    }
  }
  file_ = std::fopen(path.c_str(), resumedStep > 0 ? "a" : "w");
  if (!file_)
    return errorf(path, ": cannot write metrics: ", std::strerror(errno));
  path_ = path;
  return Status::ok();
}

Status ResumableMetricsLog::write(const StepMetrics &metrics) {
  if (!file_)
    return Status::error("metrics file is not open");
  std::string line = metrics.toJson() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_))
    return errorf(path_, ": cannot write metrics: ", std::strerror(errno));
  return Status::ok();
}

Status ResumableMetricsLog::close() {
  if (!file_)
    return Status::ok();
  bool ok = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok)
    return errorf(path_, ": cannot close metrics: ", std::strerror(errno));
  return Status::ok();
}

} // namespace ds::rt
