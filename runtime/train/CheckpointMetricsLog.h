//===- CheckpointMetricsLog.h - the metrics file of a resumable run -------===//
//
// A fresh run starts the --metrics file anew. A run resumed from the checkpoint of step k
// appends to it, after keeping only the lines of steps 1..k: lines past k were written by
// the interrupted run after its last checkpoint and are about to be computed again, and
// the last line may have been cut off by a kill. So the file of a stopped-and-resumed run
// reads exactly like the file of an uninterrupted one (the timing keys aside).
//
// Each line is appended and flushed after its step rather than the file being written to a
// temporary and renamed: it is a log that plotting tools and people read while the run goes
// on. Only the trimming on resume is an atomic rewrite.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_TRAIN_CHECKPOINTMETRICSLOG_H
#define DS_RUNTIME_TRAIN_CHECKPOINTMETRICSLOG_H

#include "runtime/core/Status.h"
#include "runtime/train/Metrics.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace ds::rt {

/// The lines of `text` (a metrics file) to keep when resuming after step `step`: complete
/// lines from the first, up to the first line that is cut off, malformed or past `step`.
std::string metricsLinesThrough(const std::string &text, int64_t step);

class ResumableMetricsLog {
public:
  ResumableMetricsLog() = default;
  ResumableMetricsLog(const ResumableMetricsLog &) = delete;
  ResumableMetricsLog &operator=(const ResumableMetricsLog &) = delete;
  ~ResumableMetricsLog();

  /// Opens `path` for a run whose first step is `resumedStep + 1` (0: a fresh run).
  Status open(const std::string &path, int64_t resumedStep);
  bool isOpen() const { return file_ != nullptr; }
  Status write(const StepMetrics &metrics);
  Status close();

private:
  std::FILE *file_ = nullptr;
  std::string path_;
};

} // namespace ds::rt

#endif
